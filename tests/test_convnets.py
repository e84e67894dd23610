"""Every registry entry builds at a tiny shape, fits two samples and predicts (TFMOT-style smoke)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.core.errors import UserError
from convbench.models.convnets import AUGMENTATION_LAYERS, CONVNETS, get_convnets, strip_augmentation
from convbench.models.flops import count_flops
from convbench.core.tfsetup import keras


# Every convnet with a softmax head; the sigmoid head of two classes is the one output_layer()
# every convnet ends with, so one convnet shows it learns.
@pytest.mark.parametrize(("name", "num_classes"), [(name, 3) for name in sorted(CONVNETS)] + [("lesson5_custom", 2)])
def test_every_convnet_builds_fits_and_predicts(name, num_classes):
    from convbench.models.train import compile_and_fit
    from convbench.core.tfsetup import seed_everything

    seed_everything(0)
    entry = CONVNETS[name]
    model = entry.build((16, 16, 1), num_classes)
    x = np.random.default_rng(0).random((8, 16, 16, 1), dtype=np.float32)
    y = np.arange(8) % num_classes
    history = compile_and_fit(model, (x, y), epochs=8, batch_size=8, learning_rate=1e-2)
    # Fitting learned something: eight memorisable samples, the loss falls.
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    out = strip_augmentation(model).predict(x, verbose=0)
    assert out.shape == (8, 1 if num_classes == 2 else num_classes)
    assert np.all(np.isfinite(out))


def test_lesson1_base_is_frozen_and_nested():
    model = CONVNETS["lesson1_transfer"].build((16, 16, 1), 10)
    base = model.layers[0]
    assert isinstance(base, keras.Model) and base.trainable is False
    assert base.trainable_weights == [] and len(base.weights) > 0


def test_strip_augmentation_keeps_weights_and_drops_random_layers():
    model = CONVNETS["lesson6_augmented"].build((16, 16, 1), 3, flip=True)
    inference = strip_augmentation(model)
    assert any(isinstance(layer, AUGMENTATION_LAYERS) for layer in model.layers)
    assert not any(isinstance(layer, AUGMENTATION_LAYERS) for layer in inference.layers)
    x = np.random.default_rng(1).random((4, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(model(x, training=False), inference(x, training=False), rtol=1e-5, atol=1e-6)
    # A copy, not shared layers: changing the copy leaves the trained model alone.
    inference.layers[-1].set_weights([w * 0 for w in inference.layers[-1].get_weights()])
    assert np.abs(model.layers[-1].get_weights()[0]).sum() > 0


def test_flops_match_a_hand_count():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, padding="same"),   # 8*8*4 outputs x 3*3*3 MACs
        keras.layers.MaxPool2D(),
        keras.layers.Flatten(),                       # 4*4*4 = 64
        keras.layers.Dense(5),                        # 64*5 MACs
    ])
    assert count_flops(model) == 2 * (8 * 8 * 4 * 27 + 64 * 5)


def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError, match="unknown model.*nope.*valid: lesson1_transfer"):
        get_convnets(["nope"])
