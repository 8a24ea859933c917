#!/usr/bin/env node
// Writes data/stories.jsonl: short prompt → story pairs in the style of TinyStories, composed
// from templates with a seeded generator, so the example data is ours and reproducible.
// Usage: node examples/bedtime-stories/generate-data.mjs [count]
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let s = 20261129;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

const names = ['Lily', 'Tom', 'Ben', 'Mia', 'Sam', 'Anna', 'Max', 'Sue', 'Tim', 'Lucy'];
const animals = ['cat', 'dog', 'bird', 'frog', 'bunny', 'duck', 'bear', 'fish'];
const things = ['ball', 'kite', 'hat', 'boat', 'box', 'drum', 'cup', 'book'];
const colors = ['red', 'blue', 'big', 'small', 'shiny', 'green', 'yellow', 'soft'];
const places = ['park', 'garden', 'forest', 'beach', 'yard', 'house', 'lake', 'hill'];
const feelings = ['happy', 'sad', 'scared', 'proud', 'tired', 'excited'];

function story() {
  const name = pick(names);
  let friend = pick(names);
  while (friend === name) friend = pick(names);
  const animal = pick(animals);
  const thing = pick(things);
  const color = pick(colors);
  const place = pick(places);
  const feeling = pick(feelings);
  const prompt = pick([
    `Write a story about ${name} and a ${animal}.`,
    `Tell a bedtime story about a ${color} ${thing}.`,
    `Write a short story where ${name} goes to the ${place}.`,
  ]);
  const lines = [
    pick([`Once upon a time, there was a little ${pick(['girl', 'boy'])} named ${name}.`, `One day, ${name} went to the ${place}.`]),
    pick([`${name} had a ${color} ${thing}.`, `${name} found a ${color} ${thing} under a tree.`]),
    pick([`A ${animal} came to play with the ${thing}.`, `Then ${name} saw a ${animal} by the ${place}.`]),
    pick([`The ${animal} was ${feeling}.`, `${name} felt ${feeling}.`]),
    pick([`${name} said, "Let's play together!"`, `"Can I help you?" asked ${friend}.`]),
    pick([`They played with the ${thing} all day.`, `${friend} and ${name} shared the ${thing}.`]),
    pick([`At the end of the day, everyone was happy.`, `From that day on, they were best friends.`]),
  ];
  return { prompt, completion: ` ${lines.join(' ')}` };
}

const count = Number(process.argv[2] ?? 600);
const out = join(dirname(fileURLToPath(import.meta.url)), 'data', 'stories.jsonl');
writeFileSync(out, Array.from({ length: count }, () => JSON.stringify(story())).join('\n') + '\n');
process.stderr.write(`wrote ${count} records to ${out}\n`);
