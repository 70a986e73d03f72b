// The option tables of genrenet's options structs (src/common/option_table.h): each defined next to the
// struct's stage, declared here for the code that reads or writes them all (configs, the CLI's flags).
#pragma once

#include "common/option_table.h"

namespace genrenet {

struct FeatureOptions;
struct SpecAugmentOptions;
struct ModelOptions;
struct FreezeOptions;
struct TrainConfig;

const options::Table<FeatureOptions>& feature_options_table();         // src/features/options.cpp
const options::Table<SpecAugmentOptions>& spec_augment_options_table(); // src/augment/spec_augment.cpp
const options::Table<ModelOptions>& model_options_table();              // src/model/resnet.cpp
const options::Table<FreezeOptions>& freeze_options_table();            // src/model/freeze.cpp
const options::Table<TrainConfig>& train_config_table();                // src/train/config.cpp

}  // namespace genrenet
