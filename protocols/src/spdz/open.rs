//! Moving values between members: opening (partial, MAC-logged), inputs, and outputs to
//! everyone or to one member.

use bytes::Bytes;
use consort_net::{PartyId, StepId, Transport};

use super::check::AUTO_CHECK_VALUES;
use super::prep::{Preprocessing, Request};
use super::wire;
use super::{Engine, MpcError, PrepError, Security, Shared};
use crate::share::share_vec;

const LOW64: u128 = u64::MAX as u128;

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    pub(crate) fn others(&self) -> Vec<PartyId> {
        let me = self.t.me();
        self.members.iter().copied().filter(|p| *p != me).collect()
    }

    pub(crate) async fn send_members(&self, step: &StepId, payload: Bytes) -> Result<(), MpcError> {
        let sends = self.others().into_iter().map(|p| self.t.send(p, step, payload.clone()));
        futures_util::future::try_join_all(sends).await?;
        Ok(())
    }

    pub(crate) async fn gather_members(&self, step: &StepId) -> Result<Vec<(PartyId, Bytes)>, MpcError> {
        let recvs = self.others().into_iter().map(|p| async move { self.t.recv(p, step).await.map(|b| (p, b)) });
        Ok(futures_util::future::try_join_all(recvs).await?)
    }

    /// Every member announces a public number (row counts, sizes); returns them in member
    /// order. A peer's number above `cap` is refused, naming it: peers set sizes. The
    /// numbers join the check transcript, so a member that announced different numbers
    /// to different members is caught at the next MAC check in malicious mode.
    pub async fn exchange_public(&mut self, step: &StepId, mine: u64, cap: u64) -> Result<Vec<u64>, MpcError> {
        if mine > cap {
            return Err(MpcError::usage(step, format!("this member's number {mine} is above the limit {cap}")));
        }
        self.send_members(step, Bytes::copy_from_slice(&mine.to_le_bytes())).await?;
        let mut out = vec![0u64; self.members.len()];
        if let Some(o) = out.get_mut(self.me) {
            *o = mine;
        }
        for (from, bytes) in self.gather_members(step).await? {
            let v: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                MpcError::Net(consort_net::NetError::PeerMisbehaved {
                    party: from,
                    step: step.to_string(),
                    what: format!("sent {} bytes, expected one 8-byte number", bytes.len()),
                })
            })?;
            let v = u64::from_le_bytes(v);
            if v > cap {
                return Err(MpcError::Net(consort_net::NetError::PeerMisbehaved {
                    party: from,
                    step: step.to_string(),
                    what: format!("announced {v}, more than the job allows ({cap})"),
                }));
            }
            if let Some(i) = self.members.iter().position(|p| *p == from)
                && let Some(o) = out.get_mut(i)
            {
                *o = v;
            }
        }
        let words: Vec<u128> = out.iter().map(|v| u128::from(*v)).collect();
        self.log.absorb(step, &words);
        Ok(out)
    }

    /// Opens shared values to every member (a partial opening: in malicious mode the
    /// result is logged and only trusted after the next MAC check).
    pub(crate) async fn open(
        &mut self,
        step: &StepId,
        mut vals: Vec<u128>,
        macs: Vec<u128>,
    ) -> Result<Vec<u128>, MpcError> {
        let len = vals.len();
        if self.fault != 0
            && let Some(v) = vals.first_mut()
        {
            *v = v.wrapping_add(self.fault);
            self.fault = 0;
        }
        self.send_members(step, wire::encode(self.security, &vals)).await?;
        let mut total = vals;
        for (from, bytes) in self.gather_members(step).await? {
            let theirs = wire::decode(self.security, from, step, &bytes, len)?;
            for (t, v) in total.iter_mut().zip(theirs) {
                *t = t.wrapping_add(v);
            }
        }
        for t in &mut total {
            *t = self.security.reduce(*t);
        }
        if self.security == Security::Malicious {
            self.log.record(step, &total, macs);
            if self.log.values() > AUTO_CHECK_VALUES {
                self.check(&step.child("check")).await?;
            }
        }
        Ok(total)
    }

    /// Reveals `x` to every member, after checking every value opened so far.
    pub async fn reveal(&mut self, step: &StepId, x: &Shared) -> Result<Vec<u64>, MpcError> {
        match self.security {
            Security::SemiHonest => {
                let opened = self.open(step, x.vals.clone(), Vec::new()).await?;
                Ok(opened.into_iter().map(|v| v as u64).collect())
            }
            Security::Malicious => {
                self.check(&step.child("check-before")).await?;
                let req = Request::Random { len: x.len() };
                self.ensure(&[req]).await?;
                let r = self.take(&req)?;
                let mask = r.parts.into_iter().next().unwrap_or_default();
                // x + 2^64·r: the upper 64 bits, which may carry information about how x
                // was computed, are hidden by r; the low 64 bits are x.
                let vals = x.vals.iter().zip(&mask.vals).map(|(v, r)| v.wrapping_add(r << 64)).collect();
                let macs = x.macs.iter().zip(&mask.macs).map(|(m, r)| m.wrapping_add(r << 64)).collect();
                let opened = self.open(step, vals, macs).await?;
                self.check(&step.child("check")).await?;
                Ok(opened.into_iter().map(|v| (v & LOW64) as u64).collect())
            }
        }
    }

    /// Reveals `x` to `owner` only; returns the values there and `None` elsewhere.
    pub async fn reveal_to(&mut self, step: &StepId, x: &Shared, owner: PartyId) -> Result<Option<Vec<u64>>, MpcError> {
        let o = self.owner_index(step, owner)?;
        match self.security {
            Security::SemiHonest => {
                if o != self.me {
                    self.t.send(owner, step, wire::encode(self.security, &x.vals)).await?;
                    return Ok(None);
                }
                let mut total = x.vals.clone();
                for (from, bytes) in self.gather_members(step).await? {
                    for (t, v) in total.iter_mut().zip(wire::decode(self.security, from, step, &bytes, x.len())?) {
                        *t = t.wrapping_add(v);
                    }
                }
                Ok(Some(total.into_iter().map(|v| v as u64).collect()))
            }
            Security::Malicious => {
                self.check(&step.child("check-before")).await?;
                let req = Request::InputMask { owner: o as u16, len: x.len() };
                self.ensure(&[req]).await?;
                let m = self.take(&req)?;
                let mask = m.parts.into_iter().next().unwrap_or_default();
                // x - r is uniform: everyone may see it; only the owner knows r.
                let vals = x.vals.iter().zip(&mask.vals).map(|(v, r)| v.wrapping_sub(*r)).collect();
                let macs = x.macs.iter().zip(&mask.macs).map(|(v, r)| v.wrapping_sub(*r)).collect();
                let opened = self.open(step, vals, macs).await?;
                self.check(&step.child("check")).await?;
                if o != self.me {
                    return Ok(None);
                }
                Ok(Some(opened.iter().zip(&m.clear).map(|(d, r)| (d.wrapping_add(*r) & LOW64) as u64).collect()))
            }
        }
    }

    /// `owner` inputs a `rows × cols` matrix (`data` on the owner, `None` elsewhere).
    pub async fn input(
        &mut self,
        step: &StepId,
        owner: PartyId,
        data: Option<&[u64]>,
        rows: usize,
        cols: usize,
    ) -> Result<Shared, MpcError> {
        let o = self.owner_index(step, owner)?;
        let mut counts = vec![0usize; self.members.len()];
        if let Some(c) = counts.get_mut(o) {
            *c = rows;
        }
        let mine = if o == self.me {
            data.ok_or_else(|| MpcError::usage(step, "the input owner must supply its data"))?
        } else {
            &[]
        };
        let mut all = self.input_each(step, cols, mine, &counts).await?;
        Ok(all.swap_remove(o))
    }

    /// Every member `i` inputs a `counts[i] × cols` matrix at once (one round): the
    /// horizontal split of a data set. `mine` is this member's block, row-major.
    pub async fn input_each(
        &mut self,
        step: &StepId,
        cols: usize,
        mine: &[u64],
        counts: &[usize],
    ) -> Result<Vec<Shared>, MpcError> {
        let n = self.members.len();
        // Counts come from the members (`exchange_public` caps them); the product is
        // checked too, so no caller can make a block larger than the limit.
        if counts.iter().any(|c| c.checked_mul(cols).is_none_or(|v| v > super::MAX_INPUT_VALUES)) {
            return Err(MpcError::usage(
                step,
                format!("an input of {counts:?} rows × {cols} columns exceeds {} values", super::MAX_INPUT_VALUES),
            ));
        }
        if counts.len() != n || counts.get(self.me).map(|c| c * cols) != Some(mine.len()) {
            return Err(MpcError::usage(
                step,
                format!("input of {} values does not match its declared shape", mine.len()),
            ));
        }
        let mut out: Vec<Option<Shared>> = vec![None; n];
        match self.security {
            Security::SemiHonest => {
                if !mine.is_empty() {
                    let shares = share_vec(mine, n, &mut self.rng);
                    for (j, s) in shares.into_iter().enumerate() {
                        let vals: Vec<u128> = s.into_iter().map(u128::from).collect();
                        if j == self.me {
                            if let Some(o) = out.get_mut(j) {
                                *o = Some(Shared::new(
                                    counts.get(self.me).copied().unwrap_or(0),
                                    cols,
                                    vals,
                                    Vec::new(),
                                )?);
                            }
                        } else if let Some(p) = self.members.get(j) {
                            self.t.send(*p, &step.index(self.me as u64), wire::encode(self.security, &vals)).await?;
                        }
                    }
                }
                for (i, p) in self.members.clone().into_iter().enumerate() {
                    let rows = counts.get(i).copied().unwrap_or(0);
                    if i == self.me || rows == 0 {
                        if rows == 0
                            && let Some(o) = out.get_mut(i)
                        {
                            *o = Some(Shared::empty(cols));
                        }
                        continue;
                    }
                    let s = step.index(i as u64);
                    let bytes = self.t.recv(p, &s).await?;
                    let vals = wire::decode(self.security, p, &s, &bytes, rows * cols)?;
                    if let Some(o) = out.get_mut(i) {
                        *o = Some(Shared::new(rows, cols, vals, Vec::new())?);
                    }
                }
            }
            Security::Malicious => {
                let reqs: Vec<Request> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(i, c)| Request::InputMask { owner: i as u16, len: c * cols })
                    .collect();
                self.ensure(&reqs).await?;
                let masks = reqs.iter().map(|r| self.take(r)).collect::<Result<Vec<_>, _>>()?;
                let mut masks = masks.into_iter();
                let mut by_owner: Vec<Option<super::prep::Material>> = vec![None; n];
                for r in &reqs {
                    if let (Request::InputMask { owner, .. }, Some(m)) = (r, masks.next())
                        && let Some(slot) = by_owner.get_mut(usize::from(*owner))
                    {
                        *slot = Some(m);
                    }
                }
                let mut seen: Vec<(usize, Vec<u128>)> = Vec::new();
                if let Some(Some(m)) = by_owner.get(self.me) {
                    // ε = x - r: uniform, so it can go to everyone.
                    let eps: Vec<u128> =
                        mine.iter().zip(&m.clear).map(|(x, r)| u128::from(*x).wrapping_sub(*r)).collect();
                    self.send_members(&step.index(self.me as u64), wire::encode(self.security, &eps)).await?;
                    seen.push((self.me, eps.clone()));
                    put(
                        &mut out,
                        self.me,
                        self.masked_input(m, &eps, counts.get(self.me).copied().unwrap_or(0), cols)?,
                    );
                }
                for (i, p) in self.members.clone().into_iter().enumerate() {
                    let rows = counts.get(i).copied().unwrap_or(0);
                    if i == self.me {
                        continue;
                    }
                    if rows == 0 {
                        put(&mut out, i, Shared::empty(cols));
                        continue;
                    }
                    let s = step.index(i as u64);
                    let bytes = self.t.recv(p, &s).await?;
                    let eps = wire::decode(self.security, p, &s, &bytes, rows * cols)?;
                    seen.push((i, eps.clone()));
                    let m = by_owner.get(i).cloned().flatten().unwrap_or_default();
                    put(&mut out, i, self.masked_input(&m, &eps, rows, cols)?);
                }
                // Every member hashes the masked inputs in member order, whatever order
                // they arrived in, so honest transcripts agree.
                seen.sort_by_key(|(i, _)| *i);
                for (i, eps) in &seen {
                    self.log.absorb(&step.index(*i as u64), eps);
                }
                if counts.get(self.me) == Some(&0) {
                    put(&mut out, self.me, Shared::empty(cols));
                }
            }
        }
        out.into_iter().map(|s| s.ok_or_else(|| MpcError::usage(step, "an input block is missing"))).collect()
    }

    /// `[x] = [r] + ε` for an input masked with `r`.
    fn masked_input(
        &self,
        m: &super::prep::Material,
        eps: &[u128],
        rows: usize,
        cols: usize,
    ) -> Result<Shared, MpcError> {
        let mask = m.parts.first().cloned().unwrap_or_default();
        let step = StepId::root("input");
        let r = Shared::new(rows, cols, mask.vals, mask.macs)
            .map_err(|e| MpcError::Prep(PrepError::Refused(format!("an input mask of the wrong size: {e}"))))?;
        if eps.len() != r.len() || m.clear.len() > r.len() {
            return Err(MpcError::usage(&step, format!("{} masked values for {} masks", eps.len(), r.len())));
        }
        let e: Vec<u128> = eps.to_vec();
        let pubv = Shared::new(
            rows,
            cols,
            if self.me == 0 { e.clone() } else { vec![0; e.len()] },
            e.iter().map(|v| v.wrapping_mul(self.alpha)).collect(),
        )?;
        r.add(&pubv)
    }
}

fn put(out: &mut [Option<Shared>], i: usize, s: Shared) {
    if let Some(o) = out.get_mut(i) {
        *o = Some(s);
    }
}
