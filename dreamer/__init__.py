"""The lucid dream engine. The bot needs only `dream` (and `dream_batch`, `batch_key` for a queue
worker batching its jobs), `load_image`, `save_image` and `Recipe`."""
from dreamer.recipe import Octave, Recipe, RecipeError

__all__ = ["Octave", "Recipe", "RecipeError", "dream", "dream_batch", "batch_key", "load_image", "save_image", "ImageError",
           "check_shape", "MAX_ASPECT", "ModelError"]


def __getattr__(name: str):
    # Lazy so that `from dreamer import Recipe` (config validation) doesn't import torch.
    if name == "dream":
        from dreamer.render import dream

        return dream
    if name in ("dream_batch", "batch_key"):  # a queue worker dreams several jobs in one batch
        import dreamer.render_batch as batch

        return getattr(batch, name)
    if name in ("load_image", "save_image", "ImageError"):
        import dreamer.image_io as io

        return getattr(io, name)
    if name in ("check_shape", "MAX_ASPECT"):
        import dreamer.shape as shape

        return getattr(shape, name)
    if name == "ModelError":  # the model zoo's (it loads torch)
        from models import ModelError

        return ModelError
    raise AttributeError(name)
