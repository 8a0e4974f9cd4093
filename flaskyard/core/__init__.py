"""The shared layer under the domains: paging, auth checks, problem bodies, signals.

Every domain package may import from here; nothing here imports a domain.
"""
