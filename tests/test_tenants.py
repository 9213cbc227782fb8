"""Many tenants in one process: plans made in threads are the plans made one after the other."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date

from lucca_sync import ApiKey, ClientCredentials, LuccaDirectory, apply, plan
from lucca_sync.testing import FakeLucca, MemorySink, generate_company

TODAY = date(2025, 3, 1)


class TestTenantsInThreads:
    """The library shares nothing between tenants: threads change no plan and no report."""

    def test_concurrent_plans_equal_sequential_ones(self) -> None:
        with ExitStack() as stack:
            fakes = [
                stack.enter_context(FakeLucca(generate_company(300, seed=seed, today=TODAY),
                                              today=TODAY))
                for seed in range(6)
            ]  # fmt: skip

            def directory(index: int) -> LuccaDirectory:
                fake = fakes[index]
                if index % 2:  # half the tenants on each API
                    return LuccaDirectory(fake.url, ApiKey(fake.api_key))
                credential = ClientCredentials(
                    fake.client_id, fake.client_secret, token_url=fake.token_url
                )
                return LuccaDirectory(fake.url, credential)

            def run(index: int) -> tuple[str, list[tuple[str, str]], dict[str, int]]:
                sink = MemorySink()
                made = plan(directory(index), sink, today=TODAY)
                report = apply(made, sink)
                users = sorted((u.key, str(sorted(u.fields.items()))) for u in sink.users())
                return made.digest, users, report.counts

            sequential = [run(index) for index in range(len(fakes))]
            with ThreadPoolExecutor(max_workers=len(fakes)) as pool:
                concurrent = list(pool.map(run, range(len(fakes))))
        assert concurrent == sequential
        assert len({digest for digest, _, _ in sequential}) == len(fakes)
        assert gc.isenabled()
