"""Which variants optimize makes: the default set (what the report reads) and `--variants all`."""

import pytest

from convbench.core.errors import UserError
from convbench.optimize.variants import DEFAULT_VARIANTS, VARIANTS, resolve_variants


def test_the_default_set_is_every_post_training_format_and_one_variant_per_technique():
    names = [v.name for v in resolve_variants([])]
    assert names == [n for n in VARIANTS if n in DEFAULT_VARIANTS]   # registry order, no parent missing
    techniques = {VARIANTS[n].technique for n in names}
    assert techniques == {"none", "prune", "cluster", "qat"}
    assert {"pruned_80", "clustered_16", "qat"} <= set(names) and not {"pcqat", "pruned_50"} & set(names)


def test_all_names_every_variant_and_unknown_names_are_refused():
    assert [v.name for v in resolve_variants(["all"])] == list(VARIANTS)
    with pytest.raises(UserError, match=r"unknown variant\(s\) nope; valid: .* \(or all\)"):
        resolve_variants(["nope"])
