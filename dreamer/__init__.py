"""The lucid dream engine. The bot needs only `dream`, `load_image`, `save_image` and `Recipe`."""
from dreamer.recipe import Octave, Recipe, RecipeError

__all__ = ["Octave", "Recipe", "RecipeError", "dream", "load_image", "save_image", "ImageError",
           "check_shape", "MAX_ASPECT", "ModelError"]


def __getattr__(name: str):
    # Lazy so that `from dreamer import Recipe` (config validation) doesn't import torch.
    if name == "dream":
        from dreamer.render import dream

        return dream
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
