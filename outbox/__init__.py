"""Resilient outbox and inbox: queue, tus sender and mailbox fetcher (Qt-free core).

Modules: :mod:`outbox.queue` (the durable send queue: priorities, receipts),
:mod:`outbox.actions` (operator actions, outage mode), :mod:`outbox.recovery` (what a crash
left, repaired at opening), :mod:`outbox.jobs` (states and snapshots), :mod:`outbox.events`
(published snapshots, rates, throttling), :mod:`outbox.sender` (the scheduler and its bounded upload
slots), :mod:`outbox.breaker` (circuit breaker per platform), :mod:`outbox.chunks` (adaptive
chunk size), :mod:`outbox.inbox` (received bundles and the fetcher thread),
:mod:`outbox.platform` (the platform client), :mod:`outbox.transport` (HTTPS session, proxies,
CA, error mapping), :mod:`outbox.watchdog` (idle-progress watchdog), :mod:`outbox.backoff` and
:mod:`outbox.errors`. Only ciphertext and non-clinical metadata ever pass through here.
"""
