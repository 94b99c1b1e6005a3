"""The bundled dataset loads offline and is the published diabetes data."""

import numpy as np
from sklearn.datasets import load_diabetes as sklearn_diabetes

from jaxloss.data import load_diabetes


def test_diabetes_matches_the_published_raw_data():
    x, y, names = load_diabetes()
    reference = sklearn_diabetes(scaled=False)
    assert x.dtype == np.float32 and x.shape == (442, 10) and y.shape == (442,)
    assert names == list(reference.feature_names)
    np.testing.assert_allclose(x, reference.data, rtol=1e-6)
    np.testing.assert_allclose(y, reference.target)
