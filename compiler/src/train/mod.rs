//! Surrogate-gradient training of spiking networks.
