"""The limits of an app that tests share but that no test of the limits uses.

Every request of a test comes from 127.0.0.1, so all the tests that share one app count as one voter against
its limits (``Settings.vote_limit``, ``battle_limit``, ``run_limit``: 30, 60 and 30 per 60 s by default). On a
fast machine the tests sharing an app could together pass those within a minute and be refused; on a slow one
they never do: the outcome depended on the machine's speed. The tests of the limits launch apps of their own,
each with the limit it checks.
"""

NOT_LIMITED = {"vote_limit": 10_000, "battle_limit": 10_000, "run_limit": 10_000}
