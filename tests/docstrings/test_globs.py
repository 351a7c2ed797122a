"""The names the store's examples may use are the ones ``attunement.store``'s docstring lists,
and other packages' examples get none."""

from __future__ import annotations

import re

import attunement.store

from .globs import globs_for


def test_store_examples_get_the_names_the_store_docstring_lists(tmp_path) -> None:
    listed = attunement.store.__doc__.split("may use these names without defining them:")[1]
    documented = set(re.findall(r"``(\w+)", listed.strip().split("\n\n")[0]))
    with globs_for("attunement.store.accounts", tmp_path) as names:
        given = set(names) - {"tmp_path"}
        assert given <= documented, f"not in attunement.store's docstring: {given - documented}"
        assert names["store"].families.get_family(names["practitioner"], names["family"])[
            "family_id"] == "N-001"
        assert names["lead"].role == "site_lead" and names["researcher"].role == "researcher"


def test_other_packages_get_no_extra_names(tmp_path) -> None:
    with globs_for("attunement.instruments", tmp_path) as names:
        assert names == {}
