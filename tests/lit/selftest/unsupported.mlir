// A test that REQUIRES a feature nobody provides is skipped (shown as ignored; lit says
// UNSUPPORTED).
// REQUIRES: phi-feature-nobody-has
// RUN: false
