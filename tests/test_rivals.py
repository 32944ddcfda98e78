"""A class pushed against its own look-alikes (recipe.rivals): the rivals come from the net's
classifier, are never a class being dreamt, and are pushed down where the class is pushed up."""
import torch

from dreamer import objectives as obj
from dreamer.recipe import Recipe, RecipeError
from dreamer.plan import views_plan
from models.heads import class_heads, look_alikes
from tests.test_render import net  # noqa: F401 - the tiny random-weight net, shared


def test_look_alikes_are_the_nearest_classes_by_the_classifier_and_never_a_dreamt_class(net):
    w = torch.nn.functional.normalize(class_heads(net)[0].fc.weight.detach().float(), dim=1)
    cos0 = w[0] @ w.t()
    cos0[0] = -2
    ids = [0, int(cos0.argmax())]  # two dreamt classes, each the other's nearest look-alike
    near = look_alikes(net, ids, 3)
    assert set(near) == set(ids)
    for i, rivals in near.items():
        assert len(rivals) == 3 and not set(ids) & set(rivals)
        cos = (w[i] @ w.t()).tolist()
        others = sorted((c for c in range(len(cos)) if c not in ids), key=lambda c: -cos[c])
        assert rivals == others[:3]


def test_rivals_are_pushed_down_where_the_class_is_pushed_up():
    logits = torch.randn(2, 10, requires_grad=True)
    o = obj.class_logits({1: 1.0, 2: -1.0}, rivals={1: [5, 6]}, rival_share=0.5)
    o({"logits": logits}).sum().backward()
    g = logits.grad
    assert (g[:, 1] > 0).all() and (g[:, 2] < 0).all()
    assert (g[:, 5] < 0).all() and (g[:, 6] < 0).all()
    assert torch.allclose(g[:, 5] + g[:, 6], torch.full((2,), -0.5))  # share x the logsumexp's weights
    untouched = [c for c in range(10) if c not in (1, 2, 5, 6)]
    assert (g[:, untouched] == 0).all()


def test_without_rivals_the_objective_is_the_plain_weighted_logits():
    logits = torch.randn(3, 10)
    plain = obj.class_logits({1: 1.0, 4: 0.5})
    for o in (obj.class_logits({1: 1.0, 4: 0.5}, rivals={1: [5]}, rival_share=0.0),
              obj.class_logits({1: 1.0, 4: 0.5}, rivals={}, rival_share=0.5)):
        assert torch.equal(o({"logits": logits}), plain({"logits": logits}))


def test_a_recipe_with_rivals_builds_an_objective_against_the_nets_look_alikes(net):
    r = Recipe(classes={"0": 1.0, "1": 1.0}, rivals=0.5)
    o = views_plan(r, net, 1, torch.device("cpu")).objective
    logits = torch.zeros(1, 1000, requires_grad=True)
    o({"logits": logits}).sum().backward()
    pushed_down = {c for c in range(1000) if logits.grad[0, c] < 0}
    assert pushed_down and pushed_down <= set(sum(look_alikes(net, [0, 1], 8).values(), []))
    try:
        Recipe(rivals=3.0).validate()
    except RecipeError as e:
        assert "rivals" in str(e)
    else:
        raise AssertionError("rivals 3 accepted")
