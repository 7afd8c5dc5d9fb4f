//! # consort-he: homomorphic encryption
//!
//! Home of Paillier (packing, fixed point), threshold Paillier with a Shamir-shared key,
//! and RNS-CKKS. None of it is implemented yet: they are the subjects of the Paillier and
//! CKKS issues. The crate exists now so that the dependency graph
//! (`parties → protocols → {he, net}`) is the final one from the start; `he` will never
//! depend on the network.
