"""The full-mode recipes the chapters and benchmarks share build their models and train a step."""

import pytest
import torch

from course_lib.data import make_collate, random_windows
from course_lib.lm import CHAR_GPT_RECIPE, next_token_loss, train_char_gpt
from course_lib.models.seq2seq import AttentionSeq2Seq, Seq2Seq, seq2seq_loss
from course_lib.models.transformer import GPT, TransformerSeq2Seq, transformer_seq2seq_loss
from course_lib.training import TrainConfig, train
from course_lib.translation import MULTI30K_RECIPES

PAD, BOS, EOS = 0, 2, 3
TRANSLATION = {
    "seq2seq": (Seq2Seq, seq2seq_loss),
    "attention": (AttentionSeq2Seq, seq2seq_loss),
    "transformer": (TransformerSeq2Seq, transformer_seq2seq_loss),
}


def test_every_translation_recipe_has_a_model():
    assert set(MULTI30K_RECIPES) == set(TRANSLATION)


@pytest.mark.parametrize("name", sorted(TRANSLATION))
def test_translation_recipe_trains_two_steps(name):
    model_class, loss_fn = TRANSLATION[name]
    recipe = MULTI30K_RECIPES[name]
    torch.manual_seed(0)
    model = model_class(30, 40, pad_id=PAD, **recipe["model"])
    pairs = [([5, 6, 7, EOS], [BOS, 8, 9, EOS]), ([5, 9, EOS], [BOS, 10, 11, 12, EOS])]
    batch = make_collate(PAD)(pairs)
    history = train(model, loss_fn, [batch], TrainConfig(max_steps=2, progress=False, **recipe["train"]))
    assert len(history.train_loss) == 2 and all(torch.isfinite(torch.tensor(history.train_loss)))


def test_char_gpt_recipe_trains_two_steps():
    recipe = CHAR_GPT_RECIPE
    torch.manual_seed(0)
    model = GPT(65, dropout=0.0, bias=False, **recipe["model"])
    ids = torch.randint(0, 65, (1000,))
    block_size = recipe["model"]["block_size"]
    history = train(model, next_token_loss, lambda: random_windows(ids, block_size, 2),
                    TrainConfig(max_steps=2, progress=False, **recipe["train"]))
    assert len(history.train_loss) == 2 and all(torch.isfinite(torch.tensor(history.train_loss)))
    assert recipe["batch_size"] >= 1


def test_train_char_gpt_trains_the_recipe_within_its_budget():
    ids = torch.randint(0, 65, (2000,), generator=torch.Generator().manual_seed(0))
    model, history = train_char_gpt(ids, 65, minutes=0.02)  # 1.2 s
    assert isinstance(model, GPT) and history.steps[-1] >= 1
    assert history.seconds < 0.02 * 60 + 5  # stops after the step that crosses the limit
