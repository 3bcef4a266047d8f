"""The parts of the speed benchmark (benchmarks/bench.py), one module each: indexing, query,
million, collection_filter, pg (pg1m, pgparity and the internal ask), concurrent and cold;
`common` holds what they share (the engine as the product makes it, the questions, timing
and memory). bench.py runs each part in a process of its own by name.

A part imports `common`, the project (bot/, index/) and benchmarks/pgbulk.py; never
bench.py or another part (the million part's synthetic store excepted, which pg1m reuses).
"""
