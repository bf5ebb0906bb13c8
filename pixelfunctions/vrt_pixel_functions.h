// The VRT pixel functions, thin wrappers over the "apply" half of the math:
//   vitfeat_cosine   (reference=v1,v2,...)             cosine similarity to a vector
//   vitfeat_project  (mean=..., direction=..., [stretch=lo,hi])   one PCA component
//   vitfeat_nearest  (centroids=c0v1,c0v2,...;c1v1,...)          nearest-centroid label
// Each source of the derived band is one feature band, in order. Every function
// also takes an optional nodata=<value> for cells with a NaN feature (default NaN;
// 0 with stretch; 255 for vitfeat_nearest): write it equal to the band's
// <NoDataValue> (GDAL 3.6's builtin NoData argument cannot be optional). The band
// needs <SourceTransferType>Float32</SourceTransferType> (or Float64): without it
// GDAL 3.6 hands the sources over in the reader's buffer type, so a Byte read
// would truncate the features; the functions refuse non-float sources.
#pragma once

namespace vitfeat::math {

// Registers the functions with GDAL (GDALAddDerivedBandPixelFuncWithArgs);
// idempotent.
void registerPixelFunctions();

}  // namespace vitfeat::math
