"""Helpers for tests of ipgwsim and of users' own code against it.

Modules here may import pytest and hypothesis (the ``testing`` extra); the Simulator and
the helpers it uses need neither. The rest of ipgwsim never imports this package.
"""
