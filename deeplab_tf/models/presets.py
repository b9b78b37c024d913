"""Model presets: one literal dict, one entry per reproduced configuration.

Every entry names its generation ("v1", "v2", "v3", "v3+", or a baseline: "fcn", "segnet",
"dilation"), a backbone from backbones.BACKBONES and every head setting explicitly;
build_model(preset, **overrides) may override any key except "generation" and "info".
Atrous rates are given at the output stride "rates_output_stride" and scale with it (v3 paper,
Sec. 4.1: "rates are doubled when output_stride = 8"): rate = r * rates_output_stride /
output_stride.

Each entry's "info" (PresetInfo, like torchvision's weight metadata) records the facts about
the preset rather than settings: its parameter count at its own num_classes (keras
count_params; tests/models check it), the paper row it reproduces (PaperRow: paper, table,
row, the published figure; from the experiments/ flagfile headers and BUILD_NOTES.md) and the
flagfile that trains it. preset_info(name) returns it as a dict.
"""
import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class PaperRow:
    paper: str       # the publication
    table: str       # where in it ("" when the figure is not from a numbered table)
    row: str         # the row or configuration, as the paper names it
    published: str   # the published figures ("" when the paper gives none)


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    params: int                  # count_params() of build_model(preset)
    paper: Optional[PaperRow]    # None: our own configuration
    flagfile: Optional[str]      # an experiments/ flagfile that trains it (its --preset)


_V1 = "DeepLab v1 (Chen et al., arXiv 1412.7062)"
_V2 = "DeepLab v2 (Chen et al., arXiv 1606.00915)"
_V3 = "DeepLab v3 (Chen et al., arXiv 1706.05587)"
_V3PLUS = "DeepLab v3+ (Chen et al., ECCV 2018, arXiv 1802.02611)"
_ZOO = "official DeepLab model zoo (research/deeplab/g3doc/model_zoo.md)"
_FCN = "FCN (Long, Shelhamer & Darrell, CVPR 2015)"
_SEGNET = "SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017)"
_DILATION = "Dilation (Yu & Koltun, ICLR 2016)"

PRESETS = {
    # --- DeepLab v1 (arXiv 1412.7062), DeepLab-LargeFOV: fc6 3x3 rate 12 with 1024 channels.
    "deeplabv1_vgg16_largefov": {
        "generation": "v1", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (12,), "rates_output_stride": 8, "fc_depth": 1024, "dropout": 0.5,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=20_505_429, flagfile="experiments/v1_largefov_voc.flags",
            paper=PaperRow(_V1, "Table 2", "DeepLab-LargeFOV",
                           "62.25 mIoU VOC 2012 val (67.64 with DenseCRF); 20.5M params")),
    },
    # --- DeepLab v2 (arXiv 1606.00915), ASPP branches summed.
    "deeplabv2_vgg16_aspp_l": {
        "generation": "v2", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (6, 12, 18, 24), "rates_output_stride": 8, "branch_form": "vgg",
        "fc_depth": 1024, "dropout": 0.5, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=37_877_652, flagfile=None,
            paper=PaperRow(_V2, "Table 3", "VGG-16 ASPP-L",
                           "68.96 mIoU VOC 2012 val (71.57 with DenseCRF)")),
    },
    "deeplabv2_vgg16_aspp_s": {
        "generation": "v2", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (2, 4, 8, 12), "rates_output_stride": 8, "branch_form": "vgg",
        "fc_depth": 1024, "dropout": 0.5, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=37_877_652, flagfile=None,
            paper=PaperRow(_V2, "Table 3", "VGG-16 ASPP-S", "")),
    },
    "deeplabv2_resnet101_aspp_l": {
        "generation": "v2", "backbone": "resnet101", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (6, 12, 18, 24), "rates_output_stride": 8, "branch_form": "resnet",
        "multi_grid": (1, 1, 1), "width_multiplier": 1.0,
        "info": PresetInfo(
            params=44_153_876, flagfile="experiments/v2_resnet101_aspp_l_voc.flags",
            paper=PaperRow(_V2, "Table 4", "ResNet-101 + MSC + COCO + ASPP-L",
                           "76.35 mIoU VOC 2012 val (77.69 with DenseCRF)")),
    },
    # --- DeepLab v3 (arXiv 1706.05587): ASPP with BN and image pooling, multi-grid (1, 2, 4).
    "deeplabv3_resnet50": {
        "generation": "v3", "backbone": "resnet50_beta", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 2, 4),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=39_228_885, flagfile=None,
            paper=PaperRow(_V3, "", "ResNet-50 ASPP", "")),
    },
    "deeplabv3_resnet101": {
        "generation": "v3", "backbone": "resnet101_beta", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 2, 4),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=58_273_237, flagfile="experiments/v3_resnet101_os16_voc.flags",
            paper=PaperRow(_V3, "Table 5", "MG(1,2,4) + ASPP(6,12,18) + Image Pooling",
                           "77.21 mIoU VOC 2012 val at OS16; 81.02B multiply-adds (v3+ paper "
                           "Table 3)")),
    },
    # Cascaded v3: block5..block7 copies of block4 (rates 2, 4, 8, 16 at OS16), multi-grid
    # (1, 2, 1) (v3 paper Table 3's best), logits straight on block7.
    "deeplabv3_resnet50_cascade": {
        "generation": "v3_cascade", "backbone": "resnet50_beta", "output_stride": 16,
        "num_classes": 21, "extra_blocks": 3, "multi_grid": (1, 2, 1), "width_multiplier": 1.0,
        "info": PresetInfo(
            params=63_946_965, flagfile=None,
            paper=PaperRow(_V3, "", "ResNet-50 block7 cascade",
                           "75.18 / 73.88 / 70.06 mIoU VOC 2012 val at OS 8 / 16 / 32")),
    },
    # Official MobileNetV2 DeepLab v3 (model zoo / official TFLite): "ASPP-lite" = image
    # pooling + aspp0 only, no atrous branches, no decoder.
    "deeplabv3_mobilenetv2": {
        "generation": "v3", "backbone": "mobilenetv2", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=2_146_645, flagfile="experiments/mobilenetv2_voc.flags",
            paper=PaperRow(_ZOO, "", "mobilenetv2_coco_voc_trainaug",
                           "75.32 mIoU VOC 2012 val (OS16); 2.75B multiply-adds")),
    },
    # Depth multiplier 0.5: the official float TFLite file (257x257) runs at OS8.
    "deeplabv3_mobilenetv2_dm05": {
        "generation": "v3", "backbone": "mobilenetv2_dm05", "output_stride": 8,
        "num_classes": 21, "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=714_325, flagfile=None,
            paper=PaperRow(_ZOO, "",
                           "mobilenetv2_dm05_coco_voc_trainaug (official float TFLite, OS8)",
                           "0.88B multiply-adds at OS16, 2.84B at OS8")),
    },
    # Xception-65 without decoder and without separable ASPP (v3+ paper Table 5, first row).
    "deeplabv3_xception65": {
        "generation": "v3", "backbone": "xception65", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 1, 1),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=53_596_085, flagfile=None,
            paper=PaperRow(_V3PLUS, "Table 5", "Xception-65 without decoder (first row)", "")),
    },
    # --- DeepLab v3+ (arXiv 1802.02611): v3 encoder + decoder at stride 4.
    "deeplabv3plus_resnet101": {
        "generation": "v3+", "backbone": "resnet101_beta", "output_stride": 16,
        "num_classes": 21, "atrous_rates": (6, 12, 18), "rates_output_stride": 16,
        "multi_grid": (1, 2, 4), "aspp_depth": 256, "image_pooling": True,
        "aspp_separable": False, "dropout": 0.1, "low_level_depth": 48, "decoder_depth": 256,
        "decoder_separable": False, "width_multiplier": 1.0,
        "info": PresetInfo(
            # Its recipe here is the Cityscapes one (the paper row is VOC's).
            params=59_578_005, flagfile="experiments/v3plus_resnet101_cityscapes.flags",
            paper=PaperRow(_V3PLUS, "Table 3", "ResNet-101 + decoder, eval OS16",
                           "78.85 mIoU VOC 2012 val; 101.28B multiply-adds")),
    },
    "deeplabv3plus_xception65": {
        "generation": "v3+", "backbone": "xception65", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 1, 1),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": True, "dropout": 0.1,
        "low_level_depth": 48, "decoder_depth": 256, "decoder_separable": True,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=41_258_213, flagfile="experiments/v3plus_xception65_voc.flags",
            paper=PaperRow(_V3PLUS, "Table 5", "Xception-65 + decoder + SC, eval OS16",
                           "79.79 mIoU VOC 2012 val; 54.17B multiply-adds (model zoo "
                           "xception65_coco_voc_trainaug: 82.20)")),
    },
    # MobileNetV2 with the ASPP-lite head of the official model and a separable decoder on
    # the official stride-4 end point (layer_4/depthwise_output).
    "deeplabv3plus_mobilenetv2": {
        "generation": "v3+", "backbone": "mobilenetv2", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "low_level_depth": 48,
        "decoder_depth": 256, "decoder_separable": True, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=2_306_437, flagfile="experiments/quickstart.flags",
            paper=None),
    },
    # --- Baselines DeepLab grew from (issue 17), on the same pipeline. Output strides are
    # fixed by the architectures (their backbones allow only the one).
    # FCN (Long et al. CVPR 2015; Shelhamer et al. TPAMI 2017): fc6 7x7x4096, fc7 4096, the
    # at-once skip scales 0.01 (pool4) and 0.0001 (pool3); fcn.py.
    "fcn32s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": (), "skip_scales": (), "fc_depth": 4096, "dropout": 0.5,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=136_152_917, flagfile=None,
            paper=PaperRow(_FCN, "Table 2", "FCN-32s VGG-16", "59.4 mIoU VOC 2011 val subset")),
    },
    "fcn16s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": ("pool4",), "skip_scales": (0.01,), "fc_depth": 4096, "dropout": 0.5,
        "width_multiplier": 1.0,
        "info": PresetInfo(
            params=134_815_994, flagfile=None,
            paper=PaperRow(_FCN, "Table 2", "FCN-16s VGG-16", "62.4 mIoU VOC 2011 val subset")),
    },
    "fcn8s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": ("pool4", "pool3"), "skip_scales": (0.01, 0.0001), "fc_depth": 4096,
        "dropout": 0.5, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=134_489_759, flagfile="experiments/fcn8s_voc.flags",
            paper=PaperRow(_FCN, "Table 3", "FCN-8s",
                           "62.7 mIoU VOC 2011 test, 62.2 VOC 2012 test; 134M params (Table 1)")),
    },
    # SegNet (Badrinarayanan et al. TPAMI 2017): VGG-16 encoder with BatchNorm, argmax
    # poolings, mirrored decoder; segnet.py.
    "segnet_vgg16": {
        "generation": "segnet", "backbone": "vgg16_segnet", "output_stride": 32,
        "num_classes": 21, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=29_470_997, flagfile="experiments/segnet_camvid.flags",
            paper=PaperRow(_SEGNET, "", "SegNet (CamVid table)",
                           "60.1 mIoU CamVid test (11 classes); 29.46M params (Table 6)")),
    },
    # Dilation (Yu & Koltun ICLR 2016): the dilated VGG-16 front-end (fc6 7x7x4096 dilated 4
    # at OS8), plus the basic context module with context_module=True; dilation.py.
    "dilation8_vgg16": {
        "generation": "dilation", "backbone": "vgg16_dilated", "output_stride": 8,
        "num_classes": 21, "atrous_rates": (4,), "rates_output_stride": 8, "fc_depth": 4096,
        "dropout": 0.5, "context_module": False, "width_multiplier": 1.0,
        "info": PresetInfo(
            params=134_346_581, flagfile="experiments/dilation8_camvid.flags",
            paper=PaperRow(_DILATION, "Table 5",
                           "Dilation8 (front-end + context module: context_module=True)",
                           "65.3 mIoU CamVid test (11 classes)")),
    },
}


def preset_info(name):
    """The recorded facts of a preset (see the module docstring) as a plain dict:
    {"preset", "generation", "backbone", "num_classes", "output_stride", "params",
    "paper": {"paper", "table", "row", "published"} or None, "flagfile"}."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is unknown; allowed: {sorted(PRESETS)}")
    entry = PRESETS[name]
    info = entry["info"]
    return {"preset": name, "generation": entry["generation"], "backbone": entry["backbone"],
            "num_classes": entry["num_classes"], "output_stride": entry["output_stride"],
            "params": info.params,
            "paper": dataclasses.asdict(info.paper) if info.paper else None,
            "flagfile": info.flagfile}
