"""The old module names of the Python package's rooms (issue 26) keep working
for one release: importing one warns (DeprecationWarning) and gives the new
module itself, and the packages that replaced a module forward its old
attributes with a warning. Written by scripts/restructure-python."""

import importlib
import sys
import warnings

import conftest  # noqa: F401 (puts clients/python on sys.path)

import pytest

MOVED = {
    'lutnas.asktell': 'lutnas.train.asktell',
    'lutnas.bench_cli': 'lutnas.cli.bench',
    'lutnas.bench_onnx': 'lutnas.measure.bench_onnx',
    'lutnas.correction_file': 'lutnas.measure.correction_file',
    'lutnas.estimates': 'lutnas.measure.estimates',
    'lutnas.external': 'lutnas.measure.external',
    'lutnas.insights_compare': 'lutnas.insights.compare',
    'lutnas.priors': 'lutnas.insights.priors',
    'lutnas.profile': 'lutnas.measure.profile',
    'lutnas.profiles': 'lutnas.insights.profiles',
    'lutnas.ray_train': 'lutnas.train.ray_train',
    'lutnas.rknn_check': 'lutnas.measure.rknn_check',
    'lutnas.train_cli': 'lutnas.cli.train',
    'lutnas.trainer': 'lutnas.train.trainer',
    'lutnas.validate_external': 'lutnas.measure.validate_external',
}
FORWARDED = [
    ('lutnas.cli', 'ALGORITHMS', 'lutnas.cli._main'),
    ('lutnas.cli', '_arch_file', 'lutnas.cli._main'),
    ('lutnas.insights', 'add_parser', 'lutnas.cli.insights'),
    ('lutnas.insights', '_file_hardware', 'lutnas.cli.insights'),
    ('lutnas.insights', '_f', 'lutnas.insights._common'),
    ('lutnas.insights', 'BYTES_PER', 'lutnas.insights.analysis'),
    ('lutnas.insights', '_conv_out', 'lutnas.insights.analysis'),
]


@pytest.mark.parametrize("old,new", sorted(MOVED.items()))
def test_an_old_module_name_warns_and_is_the_new_module(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert f"{old} moved to {new}; the old name goes in the next release" in \
        [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("package,name,new", FORWARDED)
def test_an_old_attribute_of_a_replaced_module_forwards_with_a_warning(package, name, new):
    pkg = importlib.import_module(package)
    with pytest.warns(DeprecationWarning, match=f"{package}.{name} moved to {new}.{name}; "
                      "the old name goes in the next release"):
        value = getattr(pkg, name)
    assert value is getattr(importlib.import_module(new), name)


def test_an_unknown_attribute_still_fails():
    for package in {p for p, _, _ in FORWARDED}:
        with pytest.raises(AttributeError):
            getattr(importlib.import_module(package), "no_such_name_anywhere")
