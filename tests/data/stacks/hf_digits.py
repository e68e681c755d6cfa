"""Hugging Face Trainer on digits with a tiny model built from its config (no download):
a PreTrainedModel MLP. --report-to wandb | mlgate | wandb,mlgate."""
import argparse
import json
import os

import numpy as np
import torch
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainingArguments
from transformers.modeling_outputs import SequenceClassifierOutput

from digits import tensors

p = argparse.ArgumentParser()
p.add_argument("--report-to", default="wandb")
args = p.parse_args()
report_to = args.report_to.split(",")
callbacks = []
if "mlgate" in report_to:
    import mlgate.track.integrations.hf  # noqa: F401  (registers report_to="mlgate")

xtr, ytr, xva, yva = tensors()


class DigitsConfig(PretrainedConfig):
    model_type = "digits-mlp"

    def __init__(self, n_in=64, hidden=32, num_labels=10, **kw):
        super().__init__(num_labels=num_labels, **kw)
        self.n_in, self.hidden = n_in, hidden


class DigitsModel(PreTrainedModel):
    config_class = DigitsConfig

    def __init__(self, config):
        super().__init__(config)
        self.net = torch.nn.Sequential(torch.nn.Linear(config.n_in, config.hidden),
                                       torch.nn.ReLU(),
                                       torch.nn.Linear(config.hidden, config.num_labels))
        self.post_init()

    def forward(self, pixels=None, labels=None):
        logits = self.net(pixels)
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class Pixels(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixels": self.x[i], "labels": self.y[i]}


torch.manual_seed(0)
model = DigitsModel(DigitsConfig())


def accuracy(pred):
    return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}


out = os.environ.get("MLGATE_RUN_DIR", "out")
targs = TrainingArguments(output_dir=out, num_train_epochs=2, per_device_train_batch_size=50,
                          per_device_eval_batch_size=200, learning_rate=1e-2, eval_strategy="epoch",
                          save_strategy="epoch", save_total_limit=1, logging_steps=7,
                          report_to=report_to, use_cpu=True, disable_tqdm=True, seed=0)
trainer = Trainer(model=model, args=targs, train_dataset=Pixels(xtr, ytr),
                  eval_dataset=Pixels(xva, yva), compute_metrics=accuracy)
trainer.train()
with open(os.path.join(out, "log_history.json"), "w") as fh:  # the Trainer's own log
    json.dump(trainer.state.log_history, fh)
