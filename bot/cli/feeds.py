"""`newsbot feeds` and `newsbot follow`: follow RSS and Atom feeds, poll them, and keep
following them without Discord (bot/feeds/)."""

from __future__ import annotations

import dataclasses
import json

import click

from bot.cli.common import TEXT, State, collection_option, err, out, pass_state
from index.errors import InputError

COLLECTION_OPTION = collection_option("The collection the feed's articles go to.")


@click.group("feeds")
def feeds_group() -> None:
    """Follow RSS and Atom feeds: their new entries are added as they appear."""


def _poller(state: State):  # type: ignore[no-untyped-def]
    from bot.feeds.following import FeedPoller

    return FeedPoller(state.engine())


@feeds_group.command("add")
@click.argument("url", type=TEXT)
@click.option("--every", default=None, metavar="INTERVAL", type=TEXT,
              help="How often to fetch it: 30m, 2h, 1d (default: follow.interval_minutes;"
                   " at least 5m).")
@COLLECTION_OPTION
@pass_state
def feeds_add(state: State, url: str, every: str | None, collection: str) -> None:
    """Follow the feed at URL (it is first fetched by the next `feeds poll` or `follow`)."""
    from bot.feeds.following import describe_interval, feed_url, parse_every

    parse_every(every, state.config.follow.interval_minutes)  # before the model loads
    feed_url(url)
    row = _poller(state).follow(url, collection, every)
    err.print(f"Following {row.url} every {describe_interval(row.followers[collection])}"
              f" (collection {collection}).", highlight=False)


@feeds_group.command("remove")
@click.argument("url", type=TEXT)
@COLLECTION_OPTION
@pass_state
def feeds_remove(state: State, url: str, collection: str) -> None:
    """Stop following the feed at URL (the articles already added stay)."""
    from bot.feeds.following import feed_url

    feed_url(url)
    if not _poller(state).unfollow(url, collection):
        raise InputError(f"{url} is not followed (collection {collection})")
    err.print(f"No longer following {url}.", highlight=False)


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@collection_option("Only the feeds this collection follows (default: all).", default=None)
@pass_state
def feeds_list(state: State, as_json: bool, collection: str | None) -> None:
    """Followed feeds: interval, last fetch, last new article, last error, and the entries
    not stored yet (waiting for a later poll, or failing)."""
    from bot.feeds.following import describe_interval

    poller = _poller(state)
    rows = poller.feeds(collection)
    for row in rows:
        failing = poller.is_failing(row)
        if as_json:
            click.echo(json.dumps({**dataclasses.asdict(row), "failing": failing}))
            continue
        state_word = f"FAILING ({row.failures} in a row)" if failing else "ok"
        out.print(f"{row.url}  [{state_word}]", highlight=False)
        out.print(f"    every {describe_interval(row.interval_s)};"
                  f" followed by {', '.join(row.followers)}", highlight=False)
        out.print(f"    last fetch: {row.last_fetch_at or 'never'};"
                  f" last new article: {row.last_new_at or 'never'}", highlight=False)
        if row.last_error:
            out.print(f"    last error ({row.last_error_at}): {row.last_error}", highlight=False)
        if row.waiting or row.failing_entries:
            out.print(f"    entries not stored yet: {row.waiting:,} waiting,"
                      f" {row.failing_entries:,} failing (tried again later)", highlight=False)
    if not rows:
        err.print("No feeds followed.")


def _print_poll(poll) -> None:  # type: ignore[no-untyped-def]
    added = sum(len(a) for a in poll.added.values())
    if poll.status == "failed":
        err.print(f"{poll.url}: failed ({poll.failures} in a row): {poll.error}", highlight=False)
    else:
        backlog = f", {poll.backlog}" if poll.backlog else ""
        err.print(f"{poll.url}: {poll.status}, {added} added, {len(poll.skipped)} skipped"
                  f"{backlog}", highlight=False)
    for collection, articles in poll.added.items():
        for article in articles:
            err.print(f"  + {article.display_title} ({article.id}) -> {collection}",
                      highlight=False)
    for skipped in poll.skipped:
        err.print(f"  skipped {skipped.origin}: {skipped.reason}", highlight=False)


@feeds_group.command("poll")
@click.option("--all", "everything", is_flag=True, help="Fetch every followed feed, due or not.")
@pass_state
def feeds_poll(state: State, everything: bool) -> None:
    """Fetch the feeds that are due once, add their new entries, and apply retention."""
    poller = _poller(state)
    urls = [row.url for row in poller.feeds()] if everything else None
    report = poller.poll_due(urls=urls, on_poll=_print_poll)
    if report.expired:
        err.print(f"Expired {len(report.expired)} articles (retention).")
    if not report.polls:
        err.print("No feed is due.")


@click.command("follow")
@click.option("--once", is_flag=True, help="One cycle, then exit (what cron would run).")
@pass_state
def follow(state: State, once: bool) -> None:
    """Poll the followed feeds until stopped (Ctrl-C), without Discord."""
    import threading

    poller = _poller(state)
    if once:
        poller.poll_due(on_poll=_print_poll)
        return
    from bot.feeds.leader import hold_while, poller_lease

    err.print(f"Following {len(poller.feeds())} feeds; Ctrl-C stops.")
    config = state.config
    # one poller at a time over one store: another `newsbot follow` or `newsbot run` polling
    # already means this one waits, and takes over when that one stops
    hold_while(
        poller_lease(config.store), threading.Event(),
        lambda stop: poller.run(stop, on_poll=_print_poll),
        retry_s=config.follow.check_every_s,
    )
