"""The sandbox's admin side: what tests, benchmarks and the demo steer it with (``control``: call stats, fault
rules, limits, the ``/__sandbox/`` API and the middleware that applies faults; ``mutate``: changes to the world
behind the API's back)."""
