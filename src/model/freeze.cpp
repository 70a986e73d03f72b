// Freezing policies: three readings of the paper's "N layers frozen" (docs/MODELS.md maps its tables).
#include <regex>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/option_tables.h"

namespace genrenet {

const options::Table<FreezeOptions>& freeze_options_table() {
  using O = FreezeOptions;
  static const options::Table<O> table = [] {
    options::Table<O> t("freeze option", "Freezing (docs/MODELS.md)");
    t.integer("children", &O::children, {0, 1000}, "Freeze the first N top-level modules", "--freeze-children");
    t.integer("params", &O::params, {0, 1000000}, "Freeze the first N parameter tensors", "--freeze-params");
    t.text("regex", &O::regex, {}, "Freeze parameters whose names match this regex", "--freeze");
    t.boolean("frozen_bn_train", &O::frozen_bn_train, "Let frozen batch norms update their statistics", "--frozen-bn-train");
    return t;
  }();
  return table;
}

std::vector<std::string> freeze(ResNet& model, const FreezeOptions& o) {
  auto params = model->named_parameters(/*recurse=*/true);
  std::vector<bool> selected(params.size(), false);
  if (o.children < 0 || o.params < 0) throw Error("freeze", "counts must not be negative");

  if (o.children > 0) {
    const auto& names = ResNetImpl::top_level_names();
    if (o.children > static_cast<int>(names.size()))
      throw Error("freeze option children", "a ResNet has " + std::to_string(names.size()) + " top-level modules, not " +
                                           std::to_string(o.children));
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string& key = params[i].key();
      const std::string top = key.substr(0, key.find('.'));
      for (int c = 0; c < o.children; ++c)
        if (top == names[c]) selected[i] = true;
    }
  }
  if (o.params > 0) {
    if (o.params > static_cast<int>(params.size()))
      throw Error("freeze option params", "the model has " + std::to_string(params.size()) + " parameter tensors, not " +
                                         std::to_string(o.params));
    for (int i = 0; i < o.params; ++i) selected[i] = true;
  }
  if (!o.regex.empty()) {
    std::regex re;
    try {
      re = std::regex(o.regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error("freeze option regex", "bad regular expression \"" + o.regex + "\" (" + e.what() + ")");
    }
    size_t matched = 0;
    for (size_t i = 0; i < params.size(); ++i)
      if (std::regex_match(params[i].key(), re)) {
        selected[i] = true;
        ++matched;
      }
    // The pattern must match a whole name ("bn" matches none; "layer1\\..*bn.*" does): say so rather
    // than train everything the user meant to freeze.
    if (!matched)
      throw Error("freeze option regex", "\"" + o.regex + "\" matches no parameter name (it must match a whole name, e.g. "
                              "\"layer1\\..*\" or \".*bn.*\"; names as in `genrenet weights inspect`)");
  }
  std::vector<std::string> frozen;
  for (size_t i = 0; i < params.size(); ++i)
    if (selected[i]) {
      params[i].value().set_requires_grad(false);
      frozen.push_back(params[i].key());
    }
  return frozen;
}

void set_training_mode(ResNet& model, bool on, const FreezeOptions& o) {
  model->train(on);
  if (!on || o.frozen_bn_train) return;
  // A frozen batch norm in train mode would still move its running statistics towards the new data,
  // changing what the frozen layers compute at evaluation. Keep those in eval mode.
  for (auto& m : model->modules(/*include_self=*/false))
    if (auto* bn = m->as<SyncBatchNorm2d>())
      if (!bn->weight.requires_grad() && !bn->bias.requires_grad()) bn->eval();
}

}  // namespace genrenet
