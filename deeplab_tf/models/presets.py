"""Model presets: one literal dict, one entry per reproduced configuration.

Every entry names its generation ("v1", "v2", "v3", "v3+", or a baseline: "fcn", "segnet",
"dilation"), a backbone from
backbones.BACKBONES and every head setting explicitly; build_model(preset, **overrides) may
override any key except "generation" and "paper". Atrous rates are given at the output stride
"rates_output_stride" and scale with it (v3 paper, Sec. 4.1: "rates are doubled when
output_stride = 8"): rate = r * rates_output_stride / output_stride.
"""

PRESETS = {
    # --- DeepLab v1 (arXiv 1412.7062), DeepLab-LargeFOV: fc6 3x3 rate 12 with 1024 channels.
    "deeplabv1_vgg16_largefov": {
        "generation": "v1", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (12,), "rates_output_stride": 8, "fc_depth": 1024, "dropout": 0.5,
        "width_multiplier": 1.0,
        "paper": "v1 DeepLab-LargeFOV: 62.25 VOC val (67.64 +CRF)",
    },
    # --- DeepLab v2 (arXiv 1606.00915), ASPP branches summed.
    "deeplabv2_vgg16_aspp_l": {
        "generation": "v2", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (6, 12, 18, 24), "rates_output_stride": 8, "branch_form": "vgg",
        "fc_depth": 1024, "dropout": 0.5, "width_multiplier": 1.0,
        "paper": "v2 VGG-16 ASPP-L: 68.96 VOC val (71.57 +CRF)",
    },
    "deeplabv2_vgg16_aspp_s": {
        "generation": "v2", "backbone": "vgg16", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (2, 4, 8, 12), "rates_output_stride": 8, "branch_form": "vgg",
        "fc_depth": 1024, "dropout": 0.5, "width_multiplier": 1.0,
        "paper": "v2 VGG-16 ASPP-S (v2 paper Table 3)",
    },
    "deeplabv2_resnet101_aspp_l": {
        "generation": "v2", "backbone": "resnet101", "output_stride": 8, "num_classes": 21,
        "atrous_rates": (6, 12, 18, 24), "rates_output_stride": 8, "branch_form": "resnet",
        "multi_grid": (1, 1, 1), "width_multiplier": 1.0,
        "paper": "v2 ResNet-101 ASPP: 76.35 VOC val (77.69 +CRF)",
    },
    # --- DeepLab v3 (arXiv 1706.05587): ASPP with BN and image pooling, multi-grid (1, 2, 4).
    "deeplabv3_resnet50": {
        "generation": "v3", "backbone": "resnet50_beta", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 2, 4),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "paper": "v3 ResNet-50 ASPP",
    },
    "deeplabv3_resnet101": {
        "generation": "v3", "backbone": "resnet101_beta", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 2, 4),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "paper": "v3 ResNet-101 ASPP + image pooling: 77.21 VOC val at OS16; 81.02B madds "
                 "(v3+ paper Table 3)",
    },
    # Cascaded v3: block5..block7 copies of block4 (rates 2, 4, 8, 16 at OS16), multi-grid
    # (1, 2, 1) (v3 paper Table 3's best), logits straight on block7.
    "deeplabv3_resnet50_cascade": {
        "generation": "v3_cascade", "backbone": "resnet50_beta", "output_stride": 16,
        "num_classes": 21, "extra_blocks": 3, "multi_grid": (1, 2, 1), "width_multiplier": 1.0,
        "paper": "v3 ResNet-50 block7 cascade: OS 8/16/32 -> 75.18/73.88/70.06 VOC val",
    },
    # Official MobileNetV2 DeepLab v3 (model zoo / official TFLite): "ASPP-lite" = image
    # pooling + aspp0 only, no atrous branches, no decoder.
    "deeplabv3_mobilenetv2": {
        "generation": "v3", "backbone": "mobilenetv2", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "width_multiplier": 1.0,
        "paper": "model zoo mobilenetv2_coco_voc_trainaug: 75.32 VOC val (OS16)",
    },
    # Depth multiplier 0.5: the official float TFLite file (257x257) runs at OS8.
    "deeplabv3_mobilenetv2_dm05": {
        "generation": "v3", "backbone": "mobilenetv2_dm05", "output_stride": 8,
        "num_classes": 21, "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "width_multiplier": 1.0,
        "paper": "model zoo mobilenetv2_dm05_coco_voc_trainaug (official float TFLite, OS8)",
    },
    # Xception-65 without decoder and without separable ASPP (v3+ paper Table 5, first row).
    "deeplabv3_xception65": {
        "generation": "v3", "backbone": "xception65", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 1, 1),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": False, "dropout": 0.1,
        "width_multiplier": 1.0,
        "paper": "v3+ paper Table 5, Xception-65 without decoder",
    },
    # --- DeepLab v3+ (arXiv 1802.02611): v3 encoder + decoder at stride 4.
    "deeplabv3plus_resnet101": {
        "generation": "v3+", "backbone": "resnet101_beta", "output_stride": 16,
        "num_classes": 21, "atrous_rates": (6, 12, 18), "rates_output_stride": 16,
        "multi_grid": (1, 2, 4), "aspp_depth": 256, "image_pooling": True,
        "aspp_separable": False, "dropout": 0.1, "low_level_depth": 48, "decoder_depth": 256,
        "decoder_separable": False, "width_multiplier": 1.0,
        "paper": "v3+ ResNet-101 + decoder: 78.85 VOC val at OS16; 101.28B madds (Table 3)",
    },
    "deeplabv3plus_xception65": {
        "generation": "v3+", "backbone": "xception65", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (6, 12, 18), "rates_output_stride": 16, "multi_grid": (1, 1, 1),
        "aspp_depth": 256, "image_pooling": True, "aspp_separable": True, "dropout": 0.1,
        "low_level_depth": 48, "decoder_depth": 256, "decoder_separable": True,
        "width_multiplier": 1.0,
        "paper": "v3+ Xception-65 +SC + decoder: 79.79 VOC val at OS16; 54.17B madds "
                 "(Table 5); model zoo xception65_coco_voc_trainaug 82.20",
    },
    # MobileNetV2 with the ASPP-lite head of the official model and a separable decoder on
    # the official stride-4 end point (layer_4/depthwise_output).
    "deeplabv3plus_mobilenetv2": {
        "generation": "v3+", "backbone": "mobilenetv2", "output_stride": 16, "num_classes": 21,
        "atrous_rates": (), "rates_output_stride": 16, "aspp_depth": 256,
        "image_pooling": True, "aspp_separable": False, "dropout": 0.1, "low_level_depth": 48,
        "decoder_depth": 256, "decoder_separable": True, "width_multiplier": 1.0,
        "paper": "no paper row (MobileNetV2 + decoder)",
    },
    # --- Baselines DeepLab grew from (issue 17), on the same pipeline. Output strides are
    # fixed by the architectures (their backbones allow only the one).
    # FCN (Long et al. CVPR 2015; Shelhamer et al. TPAMI 2017): fc6 7x7x4096, fc7 4096, the
    # at-once skip scales 0.01 (pool4) and 0.0001 (pool3); fcn.py.
    "fcn32s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": (), "skip_scales": (), "fc_depth": 4096, "dropout": 0.5,
        "width_multiplier": 1.0,
        "paper": "FCN-32s VGG-16: 59.4 mIoU VOC2011 val subset (CVPR 2015 Table 2)",
    },
    "fcn16s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": ("pool4",), "skip_scales": (0.01,), "fc_depth": 4096, "dropout": 0.5,
        "width_multiplier": 1.0,
        "paper": "FCN-16s VGG-16: 62.4 mIoU VOC2011 val subset (CVPR 2015 Table 2)",
    },
    "fcn8s_vgg16": {
        "generation": "fcn", "backbone": "vgg16_fcn", "output_stride": 32, "num_classes": 21,
        "skips": ("pool4", "pool3"), "skip_scales": (0.01, 0.0001), "fc_depth": 4096,
        "dropout": 0.5, "width_multiplier": 1.0,
        "paper": "FCN-8s VGG-16: 62.7 VOC2011 test, 62.2 VOC2012 test mIoU (CVPR 2015 "
                 "Table 3); 134M params (Table 1)",
    },
    # SegNet (Badrinarayanan et al. TPAMI 2017): VGG-16 encoder with BatchNorm, argmax
    # poolings, mirrored decoder; segnet.py.
    "segnet_vgg16": {
        "generation": "segnet", "backbone": "vgg16_segnet", "output_stride": 32,
        "num_classes": 21, "width_multiplier": 1.0,
        "paper": "SegNet: 60.1 CamVid test mIoU (11 classes); 29.46M params (TPAMI Table 6)",
    },
    # Dilation (Yu & Koltun ICLR 2016): the dilated VGG-16 front-end (fc6 7x7x4096 dilated 4
    # at OS8), plus the basic context module with context_module=True; dilation.py.
    "dilation8_vgg16": {
        "generation": "dilation", "backbone": "vgg16_dilated", "output_stride": 8,
        "num_classes": 21, "atrous_rates": (4,), "rates_output_stride": 8, "fc_depth": 4096,
        "dropout": 0.5, "context_module": False, "width_multiplier": 1.0,
        "paper": "Dilation8 (front-end + context): 65.3 CamVid test mIoU (ICLR 2016 Table 5)",
    },
}
