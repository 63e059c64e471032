"""``GET /api/ai/sentiment``: the configured RSS/Atom feeds' headlines scored with the
Loughran–McDonald word lists (:mod:`deltastream.insights.headlines`).

A request never fetches a feed: the first one in a web process starts the background refresh
(in that process: a thread does not survive the fork of a web worker) and waits at most
:data:`FIRST_WAIT` seconds for the first round, yielding to other requests meanwhile; every
later one serves the cached report. With no feeds configured the answer says so
(``"sentiment": "unavailable"``, ``"configured": false``).
"""

from __future__ import annotations

from typing import Literal

from apiflask import APIBlueprint, APIFlask
from flask import Response, current_app
from pydantic import Field

from .. import __version__
from ..insights.headlines import HeadlineService
from ..settings import Settings
from .json import json_response
from .models import Model
from .state import app_state

bp = APIBlueprint("sentiment", __name__, tag="Sentiment")

EXTENSION_KEY = "deltastream.sentiment"
# Seconds the first request of a web process waits for the feeds' first round.
FIRST_WAIT = 2.0


class SentimentHeadline(Model):
    title: str
    link: str | None = Field(description="the entry's http(s) link; null when it has none")
    source: str = Field(description="the feed's title (else its host)")
    published: str | None = Field(description="ISO-8601 UTC; null when the entry has no date")
    score: float | None = Field(description="(P - N) / (P + N) of the title's matched words, "
                                            "-1 to 1 (0: none matched); null without the "
                                            "word lists")
    label: Literal["positive", "negative", "neutral"] | None = Field(
        description="positive at a score of 0.2 or more, negative at -0.2 or less")
    positive: list[str] = Field(description="positive words matched, as written, in order")
    negative: list[str] = Field(description="negative words matched, negated positive ones "
                                            "included")
    negated: list[str] = Field(description="positive words counted as negative: no, not, "
                                           "none, neither, never or nobody within the three "
                                           "words before")


class SentimentFeed(Model):
    url: str
    ok: bool = Field(description="whether the last fetch succeeded")
    error: str | None = Field(description="why the last fetch failed (null when it did not)")
    fetched_at: str | None = Field(description="last successful fetch, ISO-8601 UTC")
    attempted_at: str | None = Field(description="last fetch, ISO-8601 UTC")
    entries: int = Field(description="headlines kept from this feed")
    failures: int = Field(description="consecutive failed fetches (backing off while > 0)")


class SentimentCounts(Model):
    positive: int
    negative: int


class SentimentResponse(Model):
    sentiment: Literal["positive", "negative", "neutral", "unavailable"] = Field(
        description="the overall label; unavailable when there is nothing to score (no feed "
                    "configured, none answered yet, or no word lists)")
    score: float | None = Field(description="(P - N) / (P + N) over every headline's matched "
                                            "words, -1 to 1; null when unavailable")
    counts: SentimentCounts | None = Field(description="matched words over all headlines")
    headlines: list[SentimentHeadline] = Field(description="newest first (undated last)")
    feeds: list[SentimentFeed]
    configured: bool = Field(description="whether any feed is configured (news_feeds)")
    lexicon: str = Field(description="the word lists the scores come from")
    message: str = Field(description="what the answer rests on, or why it is unavailable")


def init_sentiment(app: APIFlask, settings: Settings) -> None:
    """Register the sentiment route on ``app`` with a headline service over the configured
    feeds (stopped with the app's state)."""
    service = HeadlineService(settings.news_feeds, refresh=settings.news_refresh,
                              timeout=settings.news_timeout,
                              user_agent=f"DeltaStream/{__version__} headline reader")
    app.extensions[EXTENSION_KEY] = service
    app_state(app).on_close.append(service.close)
    app.register_blueprint(bp)


def headline_service() -> HeadlineService:
    """The headline service of the current app."""
    service: HeadlineService = current_app.extensions[EXTENSION_KEY]
    return service


@bp.get("/api/ai/sentiment")
@bp.output(SentimentResponse)
@bp.doc(summary="Headline sentiment: the configured RSS/Atom feeds' headlines scored with the "
                "Loughran-McDonald finance word lists, per headline (matched words shown) and "
                "overall; 'unavailable' with a message when no feed is configured")
def sentiment() -> Response:
    service = headline_service()
    service.start()
    if service.configured and not service.first_round_done:
        service.wait_first_round(FIRST_WAIT)
    return json_response(service.report())
