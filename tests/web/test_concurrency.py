"""50 concurrent assessment submissions against a live uvicorn: none lost, none duplicated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from .support import LiveServer, World

N = 50


def test_fifty_concurrent_submissions(world: World, live_server: LiveServer) -> None:
    headers = world.headers("practitioner")
    url = f"{live_server.url}/api/families/{world.family_a}/assessments"

    def submit(i: int) -> httpx.Response:
        body = {"caregiver": "mother" if i % 2 else "father", "instrument": "epds",
                "time_point": "3m", "responses": [i % 4] * 9 + [0]}
        # every submission carries its own idempotency key; number 7 is also retried
        key = {"Idempotency-Key": f"bench-{i}"}
        with httpx.Client(timeout=60) as client:
            return client.post(url, json=body, headers={**headers, **key})

    with ThreadPoolExecutor(max_workers=N) as pool:
        responses = list(pool.map(submit, range(N)))
        retried = pool.submit(submit, 7).result()
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses
                                                             if r.status_code != 201][:3]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == N
    assert retried.status_code == 201 and retried.json()["id"] == responses[7].json()["id"]
    stored = world.store.assessments.list_assessments(world.store.system_actor(), world.family_a)
    at_3m = [a for a in stored if a["time_point"] == "3m"]
    assert sorted(a["id"] for a in at_3m) == sorted(ids)
    for caregiver in ("mother", "father"):
        instances = sorted(a["instance"] for a in at_3m if a["caregiver"] == caregiver)
        assert instances == list(range(1, N // 2 + 1))
    # each stored row is the submission that was sent: nothing mixed up between requests
    for r in responses:
        row = next(a for a in at_3m if a["id"] == r.json()["id"])
        assert row["responses"] == r.json()["responses"]
        assert row["scores"]["epds_total"] == sum(row["responses"])
