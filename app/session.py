"""One open workstation: its profile, outbox, inbox, workers and the workstation service.

Qt-free: the window owns a :class:`Session` and bridges its events to signals. The workers
start when the window opens, whoever logs in: the queue keeps moving while a secretary is
logged in, and the inbox fills while nobody is.
"""

from __future__ import annotations

import logging

from cases.profile import Profile
from cases.workstation import Workstation
from outbox.fetcher import InboxFetcher
from outbox.inbox import Inbox
from outbox.platform import PlatformClient
from outbox.queue import Outbox
from outbox.sender import Sender

log = logging.getLogger(__name__)


class Session:
    """Everything one profile needs while its window is open."""

    def __init__(self, profile: Profile, *, poll_interval: float = 5.0) -> None:
        self.profile = profile
        config = profile.platform_config()
        # One client (one requests.Session) per thread that talks to the platform.
        self.clients = [PlatformClient(config) for _thread in range(3)]
        self.outbox = Outbox(profile.db_path, profile.path("outbox"))
        self.inbox = Inbox(profile.db_path, profile.path("inbox"))
        self.workstation = Workstation(profile, self.outbox, self.inbox, self.clients[0])
        self.sender = Sender(self.outbox, self.clients[1])
        mailboxes = [i.id for i in profile.identities() if i.role != "secretary"]
        self.fetcher = InboxFetcher(self.inbox, self.clients[2], mailboxes, interval=poll_interval)

    def start(self) -> None:
        self.sender.start()
        self.fetcher.start()

    def stop(self) -> None:
        """Stop and join the workers; close the connection pool."""
        self.sender.stop()
        self.fetcher.stop()
        for client in self.clients:
            client.close()
        log.info("session of %s stopped", self.profile.station_id)
