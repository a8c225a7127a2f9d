"""xlsr-k2: a Kaldi/k2-style speech toolkit around the XLS-R encoders."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "xlsr" / "version.py").read_text(), version)

setup(
    name="xlsr-k2",
    version=version["__version__"],
    description="Kaldi/k2-style recipes, heads and decoders around the XLS-R wav2vec 2.0 encoders",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["xlsr", "xlsr.*"]),
    install_requires=[
        "torch>=1.13.1",
        "numpy",
        "pyyaml",
        "tqdm",
    ],
    extras_require={
        # The full toolkit (k2 lane): k2 1.23.4 is built against torch 1.13.1 for CPython 3.9.
        "k2": ["k2>=1.23.4", "torchaudio>=0.13.1"],
        "data": ["lhotse", "soundfile", "sentencepiece", "espeakng-loader", "num2words"],
        "scoring": ["kaldialign", "sacrebleu"],
        "graph": ["kaldilm", "kaldifst", "kaldi-decoder", "kaldingram"],
        "train": ["tensorboard", "six"],
        "deploy": ["onnx", "onnxruntime", "sherpa-onnx>=2.0.1", "kaldifst", "kaldi-decoder"],
        "test": ["pytest", "ruff"],
    },
    entry_points={
        "console_scripts": [
            "xlsr-inspect=xlsr.bin.inspect_checkpoint:main",
            "xlsr-demo=xlsr.bin.demo:main",
        ]
    },
)
