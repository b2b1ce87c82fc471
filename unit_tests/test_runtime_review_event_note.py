"""Review: an Event note is cut to the API server's limit in bytes, not characters.

The API server rejects an events.k8s.io Event whose note is longer than 1024 *bytes*
(Go's len of a string). Cutting to 1024 characters let a non-ASCII note through at up
to 4096 bytes, so the Event was refused (422) and lost.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.runtime.events import MAX_NOTE_LENGTH, EventRecorder


class Capture:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, res: Any, obj: Any, namespace: str | None = None) -> dict[str, Any]:
        self.created.append(dict(obj))
        return {**obj, "metadata": {**obj["metadata"]}}

    async def patch(self, *a: Any, **kw: Any) -> dict[str, Any]:
        raise AssertionError("not expected")


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "uid": "u"}}


async def test_a_long_non_ascii_note_fits_the_byte_limit_and_stays_valid_utf8() -> None:
    client = Capture()
    recorder = EventRecorder(client, "ctl", "me")  # type: ignore[arg-type]
    await recorder.publish(POD, reason="Failed", note="é" * 2000 + "x", action="Sync")
    note = client.created[0]["note"]
    encoded = note.encode("utf-8")
    assert len(encoded) <= MAX_NOTE_LENGTH
    assert note == "é" * (MAX_NOTE_LENGTH // 2)


async def test_an_ascii_note_is_cut_at_the_limit() -> None:
    client = Capture()
    recorder = EventRecorder(client, "ctl", "me")  # type: ignore[arg-type]
    await recorder.publish(POD, reason="Failed", note="a" * 5000, action="Sync")
    assert client.created[0]["note"] == "a" * MAX_NOTE_LENGTH
