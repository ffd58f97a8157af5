"""``lepton train`` (option names = ``lepton.train`` keywords)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DATA, TRAIN, FORECAST, FINETUNE, TUNE, OUT = "Data", "Training", "Forecast", "Finetune", "Tuning", "Output"
RAY = "Ray cluster"


def register(app: typer.Typer) -> None:
    from lepton.api import trainer_for, write_json
    from lepton.cli.common import console

    @app.command()
    def train(
        recipe: Annotated[str, typer.Argument(help="classify | forecast | finetune")],
        data: Annotated[
            Path | None,
            typer.Argument(help="CSV, Parquet or .npz file, or a folder of images with one sub-folder per class."),
        ] = None,
        example: Annotated[
            str | None,
            typer.Option(
                help="Bundled data instead of DATA: digits (classify), stocks (forecast), tickets (finetune)."
            ),
        ] = None,
        target: Annotated[
            str | None, typer.Option(help="The label column (forecast: the value column).", rich_help_panel=DATA)
        ] = None,
        name: Annotated[str | None, typer.Option(help="Store the model under this name.")] = None,
        categorical: Annotated[
            str | None,
            typer.Option(help="Columns to treat as categories: a,b (one-hot or embedded).", rich_help_panel=DATA),
        ] = None,
        ignore: Annotated[
            str | None, typer.Option(help="Columns to leave out: id,notes.", rich_help_panel=DATA)
        ] = None,
        missing: Annotated[str, typer.Option(help="Missing values: impute | drop.", rich_help_panel=DATA)] = "impute",
        duplicates: Annotated[str, typer.Option(help="Duplicate rows: drop | keep.", rich_help_panel=DATA)] = "drop",
        val_fraction: Annotated[float, typer.Option(help="Validation share.", rich_help_panel=DATA)] = 0.15,
        test_fraction: Annotated[float, typer.Option(help="Held-out test share.", rich_help_panel=DATA)] = 0.2,
        folds: Annotated[
            int, typer.Option(help="k-fold cross-validation with k folds (0: none).", rich_help_panel=DATA)
        ] = 0,
        seed: Annotated[
            int, typer.Option(help="Seed of the split, initialisation and shuffling.", rich_help_panel=DATA)
        ] = 0,
        augment: Annotated[
            str | None, typer.Option(help="Image augmentation: flip,shift,noise or none.", rich_help_panel=DATA)
        ] = None,
        image_size: Annotated[
            int | None, typer.Option(help="Resize images to this side.", rich_help_panel=DATA)
        ] = None,
        epochs: Annotated[int | None, typer.Option(help="Most epochs.", rich_help_panel=TRAIN)] = None,
        batch_size: Annotated[int | None, typer.Option(help="Rows per training batch.", rich_help_panel=TRAIN)] = None,
        lr: Annotated[
            float | None, typer.Option(help="Peak learning rate (one-cycle schedule).", rich_help_panel=TRAIN)
        ] = None,
        weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay.", rich_help_panel=TRAIN)] = None,
        dropout: Annotated[float | None, typer.Option(help="Dropout rate.", rich_help_panel=TRAIN)] = None,
        patience: Annotated[
            int | None,
            typer.Option(
                help="Stop after this many epochs without a better validation metric (0: never).", rich_help_panel=TRAIN
            ),
        ] = None,
        width: Annotated[
            int | None, typer.Option(help="Hidden width (MLP units, CNN channels, LSTM size).", rich_help_panel=TRAIN)
        ] = None,
        depth: Annotated[
            int | None, typer.Option(help="Layers (MLP layers, CNN blocks, LSTM layers).", rich_help_panel=TRAIN)
        ] = None,
        time_column: Annotated[
            str | None, typer.Option(help="The time column (default: date/time/...).", rich_help_panel=FORECAST)
        ] = None,
        group: Annotated[
            str | None, typer.Option(help="The column naming each series.", rich_help_panel=FORECAST)
        ] = None,
        horizon: Annotated[int, typer.Option(help="Steps to forecast.", rich_help_panel=FORECAST)] = 3,
        lags: Annotated[int | None, typer.Option(help="Past values the model sees.", rich_help_panel=FORECAST)] = None,
        season: Annotated[
            int | None,
            typer.Option(help="Season length in steps (default: from the time column).", rich_help_panel=FORECAST),
        ] = None,
        conv: Annotated[
            bool, typer.Option("--conv", help="A 1-D CNN front end before the LSTM.", rich_help_panel=FORECAST)
        ] = False,
        text_column: Annotated[str, typer.Option(help="The text column.", rich_help_panel=FINETUNE)] = "text",
        max_length: Annotated[
            int | None, typer.Option(help="Tokens per text (default: from the data).", rich_help_panel=FINETUNE)
        ] = None,
        freeze: Annotated[
            int | None, typer.Option(help="Lower encoder layers kept fixed (default 2 of 6).", rich_help_panel=FINETUNE)
        ] = None,
        tune: Annotated[
            int,
            typer.Option(help="Optuna trials over lr, width, depth, dropout, epochs (0: none).", rich_help_panel=TUNE),
        ] = 0,
        time_budget: Annotated[
            float | None, typer.Option(help="Stop tuning/training after this many seconds.", rich_help_panel=TUNE)
        ] = None,
        ray: Annotated[
            str | None,
            typer.Option(
                "--ray",
                metavar="[ADDRESS]",
                help="Train data-parallel with Ray Train on this cluster (HOST:PORT, or none for the one this "
                "machine joined); the model and metrics land in the store as for a local run.",
                rich_help_panel=RAY,
            ),
        ] = None,
        workers: Annotated[
            int | None, typer.Option(help="Ray Train workers, one CPU each (default 2).", rich_help_panel=RAY)
        ] = None,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the result as JSON here.", rich_help_panel=OUT)
        ] = None,
        html: Annotated[Path | None, typer.Option(help="Write the HTML report here.", rich_help_panel=OUT)] = None,
    ) -> None:
        """Train a model on your data (prepare, train, evaluate against baselines) and store it, with its test
        split, for `lepton optimize` and `lepton serve`."""
        from lepton.training.options import TrainOptions
        from lepton.training.run import train as run_train
        from lepton.training.summary import epoch_progress, print_summary

        opts = TrainOptions.build(
            recipe,
            data,
            example=example,
            target=target,
            name=name,
            categorical=categorical,
            ignore=ignore,
            missing=missing,
            duplicates=duplicates,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            folds=folds,
            seed=seed,
            augment=augment,
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            patience=patience,
            width=width,
            depth=depth,
            time_column=time_column,
            group=group,
            horizon=horizon,
            lags=lags,
            season=season,
            conv=conv,
            text_column=text_column,
            max_length=max_length,
            freeze=freeze,
            tune=tune,
            time_budget=time_budget,
            ray=ray,
            workers=workers,
        )
        if opts.ray:
            console.print(f"training on Ray ({opts.ray}) with {opts.workers or 2} workers ...")
        with epoch_progress(console) as update:
            result = run_train(opts, progress=update, **trainer_for(opts))
        print_summary(console, result)
        if json_path:
            write_json(json_path, result.to_json())
            console.print(f"wrote {json_path}")
        if html:
            from lepton.report.html.train import write_train_html

            write_train_html(result, html)
            console.print(f"report: {html}")
