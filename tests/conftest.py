import os.path as osp
import sys

import pytest

SHARED = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '..', 'shared')
SHARED_DATA = osp.join(SHARED, 'data')
OPENCD = osp.normpath(osp.join(SHARED, 'peers', 'open-cd'))


@pytest.fixture()
def shared_data():
    """``shared_data('levir_cd_samples')``: a path under ../shared/data, or a
    skipped test when that real sample data is absent."""
    def locate(*parts):
        path = osp.normpath(osp.join(SHARED_DATA, *parts))
        if not osp.exists(path):
            pytest.skip(f'real sample data not present: {path}')
        return path
    return locate


@pytest.fixture(scope='session')
def opencd():
    """The real Open-CD 1.1.0 imported from ``../shared/peers/open-cd`` (its
    models, datasets and metrics registered); its path, or a skipped test when
    the source or mmdet (which ``import opencd`` needs) is absent."""
    if not osp.isdir(osp.join(OPENCD, 'opencd')):
        pytest.skip(f'Open-CD source not present: {OPENCD}')
    pytest.importorskip('mmdet', reason='import opencd needs mmdet (tools/setup_env.sh '
                        'installs mmdet==3.3.0 --no-deps)')
    if OPENCD not in sys.path:
        sys.path.insert(0, OPENCD)
    import opencd.datasets  # noqa: F401
    import opencd.evaluation  # noqa: F401
    import opencd.models  # noqa: F401
    return OPENCD
