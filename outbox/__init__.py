"""Resilient outbox and inbox: queue, tus sender and mailbox fetcher (Qt-free core).

Modules: :mod:`outbox.queue` (the durable send queue), :mod:`outbox.sender` (the sender thread),
:mod:`outbox.inbox` (received bundles and the fetcher thread), :mod:`outbox.platform` (the
platform client), :mod:`outbox.backoff` and :mod:`outbox.errors`. Only ciphertext and
non-clinical metadata ever pass through here.
"""
