//! The garbage collector: deletes objects whose owners are gone and carries out the
//! `orphan` and `foregroundDeletion` finalizers, following upstream's attemptToDeleteItem
//! and orphan handling.
//!
//! Like upstream's graph builder, it keeps an in-memory graph of every object (uid, owners,
//! finalizers, deletion state) fed by one metadata-only watch per listable+watchable resource
//! (`as=PartialObjectMetadata`: the server sends no specs or statuses). Each pass
//! walks the graph with the pure deciders below; anything that would change the cluster is
//! re-checked against live GETs of the object and its owners before it is done, so a lagging
//! watch never deletes something whose owner exists.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, DeleteParams, DynamicObject, PartialObjectMeta, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;

use crate::discovery::{ApiMap, Served};
use crate::Error;

pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Quiet time after a watch event before a pass runs, so bursts are handled together.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// A pass also runs this often with no events, to retry what failed.
const RESYNC: Duration = Duration::from_secs(2);
/// How often discovery is re-run to pick up new or removed resources (e.g. CRDs).
const REDISCOVER: Duration = Duration::from_secs(15);

/// What the collector knows about one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub uid: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub owners: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    /// metadata.deletionTimestamp is set.
    pub deleting: bool,
}

impl Node {
    /// Builds a node from an object's metadata; objects without a uid are not tracked.
    pub fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> Option<Self> {
        Some(Self {
            uid: meta.uid.clone()?,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
            owners: meta.owner_references.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Being deleted in the foreground: waits for its blocking dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FINALIZER_FOREGROUND)
    }

    /// Being deleted with its dependents to be orphaned.
    pub fn orphaning_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FINALIZER_ORPHAN)
    }
}

/// The state of one owner named by an ownerReference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// No object with that name and uid exists.
    Absent,
    /// The owner exists and is not waiting for its dependents.
    Present,
    /// The owner exists, is being deleted and has the foregroundDeletion finalizer.
    DeletingDependents,
    /// The owner's kind is not served or the lookup failed: decide nothing.
    Unknown,
}

/// What to do with a dependent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// Has a live owner: drop only the references to these gone or foreground-deleting owners.
    RemoveOwnerRefs(Vec<String>),
    /// Delete the object with this propagation policy.
    Delete(Propagation),
    /// First set blockOwnerDeletion=false on the references to these owners (avoids a
    /// foreground cycle), then delete in the foreground.
    UnblockThenDeleteForeground(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// Decides a dependent's fate from the states of its owners (`owners[i]` is the state of
/// `item.owners[i]`). `has_dependents`: something references the item as owner;
/// `dependent_deleting_dependents`: one of those is itself being deleted in the foreground.
pub fn gc_decide(
    item: &Node,
    owners: &[OwnerState],
    has_dependents: bool,
    dependent_deleting_dependents: bool,
) -> Decision {
    if item.owners.is_empty() || owners.len() != item.owners.len() {
        return Decision::Keep;
    }
    // Being deleted is one-way; foreground-deleting items are handled as owners.
    if item.deleting {
        return Decision::Keep;
    }
    if owners.contains(&OwnerState::Unknown) {
        return Decision::Keep;
    }
    let mut solid = 0;
    let mut gone_or_waiting = Vec::new();
    let mut waiting = Vec::new();
    for (r, s) in item.owners.iter().zip(owners) {
        match s {
            OwnerState::Present => solid += 1,
            OwnerState::Absent => gone_or_waiting.push(r.uid.clone()),
            OwnerState::DeletingDependents => {
                gone_or_waiting.push(r.uid.clone());
                waiting.push(r);
            }
            OwnerState::Unknown => {}
        }
    }
    if solid > 0 {
        if gone_or_waiting.is_empty() {
            return Decision::Keep;
        }
        return Decision::RemoveOwnerRefs(gone_or_waiting);
    }
    if !waiting.is_empty() && has_dependents {
        if dependent_deleting_dependents {
            let unblock = waiting
                .iter()
                .filter(|r| r.block_owner_deletion == Some(true))
                .map(|r| r.uid.clone())
                .collect();
            return Decision::UnblockThenDeleteForeground(unblock);
        }
        return Decision::Delete(Propagation::Foreground);
    }
    // No live owner and nobody waiting on it: collect it, honouring a policy already chosen.
    if item.has_finalizer(FINALIZER_ORPHAN) {
        Decision::Delete(Propagation::Orphan)
    } else if item.has_finalizer(FINALIZER_FOREGROUND) {
        Decision::Delete(Propagation::Foreground)
    } else {
        Decision::Delete(Propagation::Background)
    }
}

/// What to do for an owner that is being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerAction {
    /// Remove the owner's references from these dependents (by uid).
    OrphanDependents(Vec<String>),
    /// Remove this finalizer from the owner.
    RemoveFinalizer(&'static str),
}

/// Decides what a deleting owner needs, given the objects that reference it.
/// The actions are to be done in order, stopping at the first failure.
pub fn owner_actions(owner: &Node, dependents: &[&Node]) -> Vec<OwnerAction> {
    let mut out = Vec::new();
    if owner.orphaning_dependents() {
        let deps: Vec<String> = dependents
            .iter()
            .filter(|d| d.owners.iter().any(|r| r.uid == owner.uid))
            .map(|d| d.uid.clone())
            .collect();
        if !deps.is_empty() {
            out.push(OwnerAction::OrphanDependents(deps));
        }
        out.push(OwnerAction::RemoveFinalizer(FINALIZER_ORPHAN));
    } else if owner.deleting_dependents() {
        let blocking = dependents.iter().any(|d| {
            d.owners
                .iter()
                .any(|r| r.uid == owner.uid && r.block_owner_deletion == Some(true))
        });
        if !blocking {
            out.push(OwnerAction::RemoveFinalizer(FINALIZER_FOREGROUND));
        }
    }
    out
}

/// The object graph: nodes by uid, with the resource each came from.
#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, (usize, Node)>,
}

impl Graph {
    pub fn upsert(&mut self, resource: usize, node: Node) {
        self.nodes.insert(node.uid.clone(), (resource, node));
    }

    pub fn remove(&mut self, uid: &str) {
        self.nodes.remove(uid);
    }

    /// Drops nodes of `resource` that a relist did not return.
    pub fn retain_listed(&mut self, resource: usize, listed: &HashSet<String>) {
        self.nodes
            .retain(|uid, (r, _)| *r != resource || listed.contains(uid));
    }

    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid).map(|(_, n)| n)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Owner uid → uids of the nodes that reference it.
    pub fn dependents_index(&self) -> HashMap<&str, Vec<&str>> {
        let mut idx: HashMap<&str, Vec<&str>> = HashMap::new();
        for (_, n) in self.nodes.values() {
            for r in &n.owners {
                idx.entry(r.uid.as_str()).or_default().push(n.uid.as_str());
            }
        }
        idx
    }

    /// An owner's state as the graph sees it. Absence here only makes a node a candidate;
    /// the live check decides.
    fn owner_state(&self, r: &OwnerReference) -> OwnerState {
        match self.get(&r.uid) {
            Some(o) if o.deleting_dependents() => OwnerState::DeletingDependents,
            Some(_) => OwnerState::Present,
            None => OwnerState::Absent,
        }
    }

    /// Everything a pass should try, decided from the graph alone.
    pub fn plan(&self) -> Plan {
        let idx = self.dependents_index();
        let mut plan = Plan::default();
        for (_, n) in self.nodes.values() {
            let deps: Vec<&Node> = idx
                .get(n.uid.as_str())
                .map(|v| v.iter().filter_map(|u| self.get(u)).collect())
                .unwrap_or_default();
            if n.deleting {
                let actions = owner_actions(n, &deps);
                if !actions.is_empty() {
                    plan.owners.push((n.uid.clone(), actions));
                }
            }
            if n.owners.is_empty() {
                continue;
            }
            let states: Vec<OwnerState> = n.owners.iter().map(|r| self.owner_state(r)).collect();
            let deps_deleting = deps.iter().any(|d| d.deleting_dependents());
            if gc_decide(n, &states, !deps.is_empty(), deps_deleting) != Decision::Keep {
                plan.dependents.push(n.uid.clone());
            }
        }
        plan.owners.sort_by(|a, b| a.0.cmp(&b.0));
        plan.dependents.sort();
        plan
    }
}

/// The work one pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Deleting owners and what they need.
    pub owners: Vec<(String, Vec<OwnerAction>)>,
    /// Dependents whose owners look gone or foreground-deleting (to verify live).
    pub dependents: Vec<String>,
}

type MetaEvent = watcher::Event<PartialObjectMeta<DynamicObject>>;
type EventStream = Pin<Box<dyn Stream<Item = (usize, Result<MetaEvent, watcher::Error>)> + Send>>;

/// Runs the garbage collector until the client fails at discovery.
pub async fn run_garbage_collector(client: Client) -> Result<(), Error> {
    loop {
        let map = ApiMap::discover(&client).await?;
        run_with(&client, map).await?;
    }
}

/// One generation of watches over a fixed set of resources; returns when discovery changes.
async fn run_with(client: &Client, map: ApiMap) -> Result<(), Error> {
    let resources: Vec<Served> = map.collectable().cloned().collect();
    let fingerprint = map.fingerprint();
    tracing::info!(resources = resources.len(), "garbage collector watching");
    let streams: Vec<EventStream> = resources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Metadata only: the graph needs nothing else, and full objects (pod specs and
            // statuses, managedFields) cost the server and this process far more to send
            // and decode.
            let api: Api<PartialObjectMeta<DynamicObject>> =
                Api::all_with(client.clone(), &s.resource);
            let st = watcher(api, watcher::Config::default())
                .default_backoff()
                .map(move |e| (i, e));
            Box::pin(st) as EventStream
        })
        .collect();
    let mut events = futures::stream::select_all(streams);
    let mut graph = Graph::default();
    let mut relisting: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut synced: HashSet<usize> = HashSet::new();
    let mut dirty = true;
    let mut last_event = Instant::now();
    let mut last_pass = Instant::now();
    let mut last_discovery = Instant::now();
    let mut tick = tokio::time::interval(DEBOUNCE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some((i, ev)) = ev else { return Ok(()) };
                let Some(served) = resources.get(i) else { continue };
                let ar = &served.resource;
                match ev {
                    Ok(watcher::Event::Apply(o)) => {
                        if let Some(n) = Node::from_meta(&ar.api_version, &ar.kind, &o.metadata) {
                            graph.upsert(i, n);
                        }
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        if let Some(uid) = &o.metadata.uid {
                            graph.remove(uid);
                        }
                    }
                    Ok(watcher::Event::Init) => {
                        relisting.insert(i, HashSet::new());
                    }
                    Ok(watcher::Event::InitApply(o)) => {
                        if let Some(n) = Node::from_meta(&ar.api_version, &ar.kind, &o.metadata) {
                            relisting.entry(i).or_default().insert(n.uid.clone());
                            graph.upsert(i, n);
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        let listed = relisting.remove(&i).unwrap_or_default();
                        graph.retain_listed(i, &listed);
                        synced.insert(i);
                    }
                    Err(e) => {
                        tracing::debug!(resource = %ar.plural, error = %e, "garbage collector watch error");
                    }
                }
                dirty = true;
                last_event = Instant::now();
            }
            _ = tick.tick() => {
                if last_discovery.elapsed() >= REDISCOVER {
                    last_discovery = Instant::now();
                    match ApiMap::discover(client).await {
                        Ok(m) if m.fingerprint() != fingerprint => {
                            tracing::info!("served resources changed; restarting garbage collector watches");
                            return Ok(());
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "rediscovery failed"),
                    }
                }
                // Decisions need the whole graph: a dependent not yet listed must not be
                // mistaken for none.
                if synced.len() < resources.len() {
                    continue;
                }
                let due = (dirty && last_event.elapsed() >= DEBOUNCE) || last_pass.elapsed() >= RESYNC;
                if due {
                    dirty = false;
                    last_pass = Instant::now();
                    run_pass(client, &map, &resources, &graph).await;
                }
            }
        }
    }
}

async fn run_pass(client: &Client, map: &ApiMap, resources: &[Served], graph: &Graph) {
    let plan = graph.plan();
    if plan.owners.is_empty() && plan.dependents.is_empty() {
        return;
    }
    tracing::debug!(nodes = graph.len(), ?plan, "garbage collector pass");
    let idx = graph.dependents_index();
    for uid in &plan.dependents {
        let Some((ri, node)) = graph.nodes.get(uid) else {
            continue;
        };
        let Some(served) = resources.get(*ri) else {
            continue;
        };
        let deps: Vec<&Node> = idx
            .get(uid.as_str())
            .map(|v| v.iter().filter_map(|u| graph.get(u)).collect())
            .unwrap_or_default();
        let deps_deleting = deps.iter().any(|d| d.deleting_dependents());
        if let Err(e) =
            collect_dependent(client, map, served, node, !deps.is_empty(), deps_deleting).await
        {
            tracing::warn!(kind = %node.kind, name = %node.name, error = %e, "garbage collection failed");
        }
    }
    for (uid, actions) in &plan.owners {
        let Some((ri, owner)) = graph.nodes.get(uid) else {
            continue;
        };
        let Some(served) = resources.get(*ri) else {
            continue;
        };
        if let Err(e) = finish_owner(client, resources, graph, served, owner, actions).await {
            tracing::warn!(kind = %owner.kind, name = %owner.name, error = %e, "owner finalization failed");
        }
    }
}

fn object_api(client: &Client, served: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if served.namespaced() => {
            Api::namespaced_with(client.clone(), ns, &served.resource)
        }
        _ => Api::all_with(client.clone(), &served.resource),
    }
}

/// Looks up an owner live: by name in the dependent's namespace (or cluster-wide), then uid.
async fn live_owner_state(
    client: &Client,
    map: &ApiMap,
    dependent: &Node,
    r: &OwnerReference,
) -> OwnerState {
    let Some(served) = map.resolve(&r.api_version, &r.kind) else {
        return OwnerState::Unknown;
    };
    // A cluster-scoped object cannot be owned by a namespaced one; upstream refuses to decide.
    if served.namespaced() && dependent.namespace.is_none() {
        return OwnerState::Unknown;
    }
    let api = object_api(client, &served, dependent.namespace.as_deref());
    match api.get_metadata_opt(&r.name).await {
        Ok(None) => OwnerState::Absent,
        Ok(Some(o)) => match Node::from_meta(&r.api_version, &r.kind, &o.metadata) {
            Some(n) if n.uid != r.uid => OwnerState::Absent,
            Some(n) if n.deleting_dependents() => OwnerState::DeletingDependents,
            Some(_) => OwnerState::Present,
            None => OwnerState::Unknown,
        },
        Err(e) => {
            tracing::debug!(owner = %r.name, error = %e, "owner lookup failed");
            OwnerState::Unknown
        }
    }
}

/// Re-checks a candidate dependent against the live object and owners, then acts.
async fn collect_dependent(
    client: &Client,
    map: &ApiMap,
    served: &Served,
    node: &Node,
    has_dependents: bool,
    deps_deleting: bool,
) -> Result<(), Error> {
    let api = object_api(client, served, node.namespace.as_deref());
    let Some(latest) = api.get_metadata_opt(&node.name).await? else {
        return Ok(());
    };
    let Some(live) = Node::from_meta(&node.api_version, &node.kind, &latest.metadata) else {
        return Err(Error::MissingField("metadata.uid"));
    };
    if live.uid != node.uid {
        return Ok(());
    }
    let mut states = Vec::with_capacity(live.owners.len());
    for r in &live.owners {
        states.push(live_owner_state(client, map, &live, r).await);
    }
    match gc_decide(&live, &states, has_dependents, deps_deleting) {
        Decision::Keep => Ok(()),
        Decision::RemoveOwnerRefs(uids) => {
            tracing::info!(kind = %live.kind, name = %live.name, "removing references to gone owners");
            update_meta(&api, &live.name, &live.uid, |m| {
                if let Some(refs) = &mut m.owner_references {
                    refs.retain(|r| !uids.contains(&r.uid));
                }
            })
            .await
        }
        Decision::UnblockThenDeleteForeground(uids) => {
            update_meta(&api, &live.name, &live.uid, |m| {
                for r in m.owner_references.iter_mut().flatten() {
                    if uids.contains(&r.uid) {
                        r.block_owner_deletion = Some(false);
                    }
                }
            })
            .await?;
            delete(&api, &live, PropagationPolicy::Foreground).await
        }
        Decision::Delete(p) => {
            tracing::info!(kind = %live.kind, name = %live.name, policy = ?p, "deleting object whose owners are gone");
            let policy = match p {
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Orphan => PropagationPolicy::Orphan,
            };
            delete(&api, &live, policy).await
        }
    }
}

async fn delete(
    api: &Api<DynamicObject>,
    node: &Node,
    policy: PropagationPolicy,
) -> Result<(), Error> {
    let dp = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(node.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&node.name, &dp).await {
        Ok(_) => Ok(()),
        // Gone already, or replaced by a new object of the same name.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Read-modify-write of an object's metadata with optimistic concurrency. It reads and
/// replaces the whole object: a replace built from metadata alone would drop the rest.
async fn update_meta(
    api: &Api<DynamicObject>,
    name: &str,
    uid: &str,
    edit: impl Fn(&mut ObjectMeta),
) -> Result<(), Error> {
    for _ in 0..5 {
        let Some(mut obj) = api.get_opt(name).await? else {
            return Ok(());
        };
        if obj.metadata.uid.as_deref() != Some(uid) {
            return Ok(());
        }
        let before = obj.metadata.clone();
        edit(&mut obj.metadata);
        if obj.metadata == before {
            return Ok(());
        }
        match api.replace(name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn finish_owner(
    client: &Client,
    resources: &[Served],
    graph: &Graph,
    served: &Served,
    owner: &Node,
    actions: &[OwnerAction],
) -> Result<(), Error> {
    for action in actions {
        match action {
            OwnerAction::OrphanDependents(uids) => {
                for uid in uids {
                    let Some((ri, dep)) = graph.nodes.get(uid) else {
                        continue;
                    };
                    let Some(dep_served) = resources.get(*ri) else {
                        continue;
                    };
                    let api = object_api(client, dep_served, dep.namespace.as_deref());
                    update_meta(&api, &dep.name, &dep.uid, |m| {
                        if let Some(refs) = &mut m.owner_references {
                            refs.retain(|r| r.uid != owner.uid);
                            if refs.is_empty() {
                                m.owner_references = None;
                            }
                        }
                    })
                    .await?;
                }
            }
            OwnerAction::RemoveFinalizer(f) => {
                tracing::info!(kind = %owner.kind, name = %owner.name, finalizer = %f, "removing finalizer");
                let api = object_api(client, served, owner.namespace.as_deref());
                update_meta(&api, &owner.name, &owner.uid, |m| {
                    if let Some(fs) = &mut m.finalizers {
                        fs.retain(|x| x != f);
                    }
                })
                .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
