"""Processor base classes and running them on coffea executors (iterative, futures, Dask)."""
