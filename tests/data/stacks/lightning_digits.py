"""A LightningModule on digits, with the logger chosen on the command line:
csv (CSVLogger("logs")), default (Lightning's default logger), wandb (WandbLogger()),
mlgate (MlgateLogger()), wandb+mlgate. --package pytorch_lightning uses the standalone
package instead of lightning.pytorch. --devices 2 runs DDP on CPU (gloo) through Lightning's
own launcher."""
import argparse
import json
import os

import torch

from digits import mlp, tensors

p = argparse.ArgumentParser()
p.add_argument("--logger", default="csv")
p.add_argument("--devices", type=int, default=1)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--package", default="lightning")
args = p.parse_args()

if args.package == "pytorch_lightning":
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger, WandbLogger
else:
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

xtr, ytr, xva, yva = tensors()


class Digits(pl.LightningModule):
    def __init__(self, lr: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = mlp()

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        acc = (self.net(x).argmax(1) == y).float().mean()
        self.log("val/acc", acc, sync_dist=True)

    def test_step(self, batch, _):  # Lightning runs it under torch.inference_mode()
        x, y = batch
        acc = (self.net(x).argmax(1) == y).float().mean()
        self.log("test/acc", acc, sync_dist=True)
        if "mlgate" in args.logger:
            from mlgate import track

            track.log({"test/batch_acc": acc})  # an inference tensor, logged directly

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def loader(x, y, shuffle):
    ds = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(ds, batch_size=100, shuffle=shuffle)


if args.logger == "csv":
    logger = CSVLogger("logs", name="digits")
elif args.logger == "default":
    logger = True  # TensorBoardLogger (tensorboard is installed) under default_root_dir
elif args.logger == "wandb":
    logger = WandbLogger(project="digits-lightning")
elif args.logger == "wandb+mlgate":
    if args.package == "pytorch_lightning":
        from mlgate.track.integrations.pytorch_lightning import MlgateLogger
    else:
        from mlgate.track.integrations import MlgateLogger

    logger = [WandbLogger(project="digits-lightning"), MlgateLogger()]
else:
    from mlgate.track.integrations import MlgateLogger

    logger = MlgateLogger(config={"script": "lightning_digits"})

pl.seed_everything(0)
trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                     strategy="ddp" if args.devices > 1 else "auto", logger=logger,
                     log_every_n_steps=2, enable_progress_bar=False,
                     enable_model_summary=False)
model = Digits()
trainer.fit(model, loader(xtr, ytr, True), loader(xva, yva, False))
trainer.test(model, loader(xva, yva, False))
if trainer.is_global_zero:  # the script's own record of the final numbers
    final = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print("FINAL " + json.dumps(final), flush=True)
