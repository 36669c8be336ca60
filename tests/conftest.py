import os.path as osp

import pytest

SHARED_DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '..', 'shared', 'data')


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
