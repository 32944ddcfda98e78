"""What the admin is told by direct message (`[admin] account`, through the Mastodon
publisher): a streak of `admin.after_failures` failed cycles (once per streak), and every
item that ended without being posted, with its reason (each item once; several at a time
share one message). Without an admin or a Mastodon account the items still show in
`status`."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot import logs
from bot.store import CycleOutcome

if TYPE_CHECKING:
    from bot.config.services import AdminSection
    from bot.parts import Parts
    from bot.store import Store

log = logging.getLogger("bot.notify")
_sending = threading.Lock()  # the cycle and the request worker may both find the same items


@runtime_checkable
class DirectSender(Protocol):
    """What can message the admin: the Mastodon publisher, or the requests' client."""

    def send_direct(self, acct: str, text: str, key: str | None = None) -> None: ...


def failed_cycles(store: "Store", parts: "Parts", cycle_id: int, outcome: CycleOutcome,
                  errors: list[str]) -> None:
    admin = parts.admin
    if not admin.account or outcome != CycleOutcome.FAILED:
        return
    count, notified = store.consecutive_failures()
    if count < admin.after_failures or notified:
        return
    sender = parts.publishers.get("mastodon")
    if not isinstance(sender, DirectSender):
        log.warning("%d cycles failed in a row, but no Mastodon publisher is running to tell %s",
                    count, admin.account)
        return
    text = logs.redact(f"{parts.bot.name}: {count} cycles in a row have failed. Last error: "
                       f"{'; '.join(errors)[:300]}")
    try:
        sender.send_direct(admin.account, text)
    except Exception as exc:
        log.error("could not message the admin %s: %s", admin.account, logs.redact(str(exc)))
        return
    store.mark_admin_notified(cycle_id)
    log.info("told the admin %s about %d failed cycles", admin.account, count)


def ended_items(store: "Store", admin: "AdminSection", bot_name: str, sender: object) -> None:
    """Tell the admin about items that ended unposted and were not told yet, through `sender`
    (when it can send direct messages: the cycle's Mastodon publisher, the requests' client)."""
    if not admin.account or not isinstance(sender, DirectSender):
        return
    with _sending:
        items = store.unnotified_ended()
        if not items:
            return
        lines = [f"- {i['what']}: {i['reason']}" for i in items]
        head = (f"{bot_name}: {len(items)} item{'s' if len(items) != 1 else ''} ended without being posted "
                "(see `run_bot.py status`):")
        text = logs.redact("\n".join([head, *lines]))
        try:
            # keyed by the items, so a retry after a lost answer is not a second message
            sender.send_direct(admin.account, text, key="ended-" + "-".join(str(i["id"]) for i in items))
        except Exception as exc:
            log.warning("could not tell the admin %s about %d ended item(s): %s (will try again)",
                        admin.account, len(items), logs.redact(str(exc)))
            return
        store.mark_ended_notified([i["id"] for i in items])
        log.info("told the admin %s about %d item(s) that ended unposted", admin.account, len(items))
