#pragma once

namespace vitfeat {
// Registers VITPCA, VITCLUSTER, VITSIM, VITCLASSIFY and VITUMAP (each only once).
void registerViewDrivers();
}  // namespace vitfeat
