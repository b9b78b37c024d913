"""The atrous rule shared by the backbones (slim resnet_utils / xception stack_blocks_dense /
mobilenet mobilenet_base all apply it): VGG-16, ResNet, Xception-65 and MobileNetV2 build
through AtrousRule, so there is one implementation.

Walking the network unit by unit: while the running stride is below the target output stride,
a unit keeps its stride and uses rate 1; once the target is reached, every later unit runs with
stride 1 at the current rate, and the rate multiplies by the stride the unit skipped.
"""


class AtrousRule:
    """Tracks stride and dilation rate while a backbone is built.

    Args:
      output_stride: the target ratio of input to output size (8, 16 or 32).
      backbone: name used in error messages.
    """

    def __init__(self, output_stride, backbone):
        self.output_stride = output_stride
        self.backbone = backbone
        self.current_stride = 1   # the stride actually applied so far
        self.nominal_stride = 1   # the stride without atrous replacement
        self.rate = 1

    def unit(self, stride):
        """Returns (stride, rate) for a unit whose nominal stride is `stride`."""
        self.nominal_stride *= stride
        if self.current_stride == self.output_stride:
            rate = self.rate
            self.rate *= stride
            return 1, rate
        self.current_stride *= stride
        if self.current_stride > self.output_stride:
            raise ValueError(
                f"output_stride={self.output_stride} cannot be reached by backbone "
                f"{self.backbone!r}: its strides give {self.current_stride} at this point; "
                f"allowed: strides that are products of its unit strides (8, 16, 32)")
        return stride, 1

    def check_reached(self):
        if self.current_stride != self.output_stride:
            raise ValueError(
                f"output_stride={self.output_stride} cannot be reached by backbone "
                f"{self.backbone!r}: its nominal stride is only {self.current_stride}")
