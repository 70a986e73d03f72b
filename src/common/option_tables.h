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
struct GenreTagOptions;
struct ComputeOptions;
struct UnknownOptions;
struct WindowOptions;
struct ClassifierOptions;
struct SimilarityIndexOptions;
struct LibraryMapOptions;
struct TagOptions;
struct ServerOptions;
struct CalibrateOptions;

const options::Table<FeatureOptions>& feature_options_table();         // src/features/options.cpp
const options::Table<SpecAugmentOptions>& spec_augment_options_table(); // src/augment/spec_augment.cpp
const options::Table<ModelOptions>& model_options_table();              // src/model/resnet.cpp
const options::Table<FreezeOptions>& freeze_options_table();            // src/model/freeze.cpp
const options::Table<TrainConfig>& train_config_table();                // src/train/config.cpp
const options::Table<GenreTagOptions>& genre_tag_options_table();      // src/library/tagged_library.cpp

// The runtime's: its flags (every command that classifies, embeds, tags, indexes or serves) and the
// service's query parameters are made from them.
const options::Table<ComputeOptions>& compute_options_table();                 // src/compute/compute.cpp
const options::Table<UnknownOptions>& unknown_options_table();                 // src/infer/answer_rules.cpp
const options::Table<WindowOptions>& window_options_table();                   // src/infer/answer_rules.cpp
const options::Table<ClassifierOptions>& classifier_options_table();           // src/infer/answer_rules.cpp
const options::Table<SimilarityIndexOptions>& similarity_index_options_table(); // src/library/similarity_index.cpp
const options::Table<LibraryMapOptions>& library_map_options_table();           // src/library/library_map.cpp
const options::Table<TagOptions>& tag_options_table();                         // src/library/tag_files.cpp
const options::Table<ServerOptions>& server_options_table();                   // src/serve/server_options.cpp
const options::Table<CalibrateOptions>& calibrate_options_table();             // src/train/evaluate_run.cpp

}  // namespace genrenet
