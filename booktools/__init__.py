"""Tooling of the book itself (not of the paper's mathematics): the audit that reads every chapter and builds
chapter 12's tables of claims and checks (:mod:`booktools.audit`). The scientific package is :mod:`iclbook`;
the Sphinx extensions of the HTML and PDF builds are in ``_ext/``."""
