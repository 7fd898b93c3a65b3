"""A FastAPI service that hands work to stoker from its endpoints (see README.md)."""
