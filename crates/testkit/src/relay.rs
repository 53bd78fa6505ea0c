//! A TCP relay in front of a server that a test can cut (connections dropped, new ones
//! refused, like a database that went away) and restore on the same address. Runs on the
//! caller's tokio runtime.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    pub addr: SocketAddr,
    target: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
    generation: watch::Sender<u64>,
}

impl Relay {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            target,
            accept: Mutex::new(None),
            generation: watch::channel(0).0,
        };
        relay.serve(listener);
        relay
    }

    /// A `redis://` URL for the relay.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let generation = self.generation.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Stops listening and drops every relayed connection.
    pub async fn cut(&self) {
        let task = self
            .accept
            .lock()
            .unwrap()
            .take()
            .expect("relay already cut");
        task.abort();
        let _ = task.await;
        self.generation.send_modify(|g| *g += 1);
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}
