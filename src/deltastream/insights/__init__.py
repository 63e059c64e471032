"""The market in words: a pulse narrative, headline sentiment and questions answered.

Every sentence rests on figures from DeltaStream's own analytics (returned beside it as facts);
headline sentiment scores configured RSS/Atom feeds with a finance lexicon; questions are
answered from the live analytics and, by retrieval, from the project's documentation, optionally
phrased by a user-configured OpenAI-compatible endpoint whose quoted figures are checked.
Works offline by default; never imports Flask.
"""
