"""Real market data: importers of option-chain files, the chains built from them, and the
providers an engine can run on (the simulator, a replay of stored snapshots, live pollers).

Importers turn a file into :class:`~deltastream.feeds.records.ImportedChain` objects (one
underlying at one quote time, one row per contract, as the file said it);
:mod:`~deltastream.feeds.build` prices them into the same
:class:`~deltastream.core.snapshot.ChainSnapshot` the simulated market produces.
"""
