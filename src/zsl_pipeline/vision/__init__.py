"""The image stages: the ResNet-101 backbone, feature extraction, seen-class fine-tuning and
feature-to-image inversion (no kedro, no mlflow)."""
