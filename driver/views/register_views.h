#pragma once

namespace vitfeat {
// Registers VITPCA, VITCLUSTER and VITSIM (each only once).
void registerViewDrivers();
}  // namespace vitfeat
