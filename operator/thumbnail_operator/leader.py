"""Leader election with a coordination.k8s.io/v1 Lease, so that of several operator
replicas exactly one acts (the same protocol as client-go's leaderelection).

The holder renews ``renewTime`` every ``renew_seconds``; another replica takes
the Lease over once ``renewTime + leaseDurationSeconds`` has passed. Every write
carries the resourceVersion it read, so two replicas can never both win.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import uuid
from typing import Callable

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger("thumbnail_operator.leader")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class LeaderElector:
    """Holds or waits for the Lease ``namespace/name``.

    ``on_elected`` is called (from the election thread) each time this replica
    becomes the leader. :attr:`is_leader` is what handlers check before acting.
    """

    def __init__(self, api: client.CoordinationV1Api, namespace: str, name: str, lease_seconds: int = 15,
                 renew_seconds: float = 5.0, on_elected: Callable[[], None] = lambda: None):
        self.api, self.namespace, self.name = api, namespace, name
        self.lease_seconds, self.renew_seconds, self.on_elected = lease_seconds, renew_seconds, on_elected
        self.identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._leader_until = _now()
        self._stop = threading.Event()

    @property
    def is_leader(self) -> bool:
        """True while this replica holds an unexpired Lease."""
        return _now() < self._leader_until

    def try_acquire_or_renew(self) -> bool:
        """One election round; returns whether this replica leads afterwards."""
        now = _now()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                "renewTime": now.isoformat(timespec="microseconds").replace("+00:00", "Z")}
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            body = {"metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {**spec, "acquireTime": spec["renewTime"], "leaseTransitions": 0}}
            try:
                self.api.create_namespaced_lease(self.namespace, body)
            except ApiException as e2:
                if e2.status == 409:
                    return False
                raise
            return self._won(now)
        held = lease.spec.holder_identity or None
        renewed = lease.spec.renew_time or lease.spec.acquire_time
        expired = renewed is None or renewed + datetime.timedelta(
            seconds=lease.spec.lease_duration_seconds or self.lease_seconds) < now
        if held and held != self.identity and not expired:
            self._leader_until = now  # someone else leads
            return False
        body = {"metadata": {"resourceVersion": lease.metadata.resource_version}, "spec": spec}
        if held != self.identity:
            body["spec"]["acquireTime"] = spec["renewTime"]
            body["spec"]["leaseTransitions"] = (lease.spec.lease_transitions or 0) + 1
        try:
            self.api.patch_namespaced_lease(self.name, self.namespace, body)
        except ApiException as e:
            if e.status == 409:  # lost a race: someone else renewed or took it
                return False
            raise
        return self._won(now)

    def _won(self, now: datetime.datetime) -> bool:
        was = self.is_leader
        # Act only well inside the lease, so two replicas never act at once even with clock skew.
        self._leader_until = now + datetime.timedelta(seconds=self.lease_seconds * 2 / 3)
        if not was:
            log.info("became the leader (%s)", self.identity)
            self.on_elected()
        return True

    def run(self) -> None:
        """Election loop until :meth:`stop`; errors count as 'not leader' for that round."""
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:  # the API server may be briefly away
                log.exception("leader election round failed")
            self._stop.wait(self.renew_seconds)

    def start(self) -> None:
        threading.Thread(target=self.run, name="leader-election", daemon=True).start()

    def stop(self) -> None:
        """Stop electing and, if leading, release the Lease so a standby takes over at once
        (as client-go's ReleaseOnCancel does: empty holder, 1 s duration)."""
        self._stop.set()
        if not self.is_leader:
            return
        self._leader_until = _now()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.identity:
                self.api.patch_namespaced_lease(self.name, self.namespace, {
                    "metadata": {"resourceVersion": lease.metadata.resource_version},
                    "spec": {"holderIdentity": "", "leaseDurationSeconds": 1}})
        except ApiException as e:
            log.warning("could not release the Lease: %s", e.reason)
