"""Helpers for tests of ipgwsim and of users' own code against it.

Modules here may import hypothesis (the ``test`` extra); the rest of ipgwsim
never imports this package.
"""
